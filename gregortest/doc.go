// Package gregortest runs a real gregor cluster inside a Go test: real
// brokers (broker.New and Run), real storage under t.TempDir(), a real Raft
// quorum, listeners on 127.0.0.1 with ports from the OS. Every broker is
// also a controller voter. NewCluster returns once every broker is
// registered and a controller is elected; t.Cleanup stops everything.
//
// Faults: Stop (controlled shutdown), Kill (no controlled shutdown: the
// cluster notices by missed heartbeats), Restart (same data directory and
// client port), Isolate and Heal (the broker is cut off from the other
// brokers in both directions, Raft, replication and forwarded requests,
// while clients still reach it), Cut and Mend (the links between two
// brokers only, for splits and bridges; HealNetwork undoes every cut and
// isolation). Each broker's Raft transport and
// inter-broker listener sit behind an in-process proxy owned by the
// cluster; clients connect to the brokers directly.
//
// Security: with GREGOR_TEST_SECURE=1 (make test-cluster-secure) or the
// Secure option every listener is secured (SASL_SSL clients and brokers,
// the Raft quorum over mutual TLS with a PLAIN login, the authorizer on
// with the cluster's clients as its super user; secure.go). Clients a
// test makes itself take c.ClientOpts() to reach such a cluster.
//
//	func TestProduce(t *testing.T) {
//		c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("min.insync.replicas=2"))
//		cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("events"))
//		ctx := context.Background()
//		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "events"); err != nil {
//			t.Fatal(err)
//		}
//		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
//			t.Fatal(err)
//		}
//		c.Kill(0) // the records survive: acks=all waited for two replicas
//	}
package gregortest
