package gregortest_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// createAssigned creates topic with one partition on replicas (the first
// the preferred leader) and min.insync.replicas 2.
func createAssigned(t *testing.T, c *gregortest.Cluster, topic string, replicas ...int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	mir := kmsg.NewCreateTopicsRequestTopicConfig()
	mir.Name, mir.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, mir)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	waitLeader(t, c, topic, len(replicas), -1)
}

// TestBrokerOnlyNodesUnderLoad: three combined voters and two broker-only
// nodes (process.roles=broker, observers). acks=all idempotent produce
// runs to a partition led by a broker-only node while the active
// controller and then that leader are killed and restarted; every
// acknowledged record is read back once, in order, DescribeQuorum shows
// the three voters and the two brokers as observers, a voter always
// leads the quorum, and Metadata lists all five brokers.
func TestBrokerOnlyNodesUnderLoad(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(5), gregortest.Voters(3), gregortest.BrokerOnly())
	voters, observers := []int32{1, 2, 3}, []int32{4, 5}
	waitQuorum(t, c, voters, observers)
	for i := range c.Len() {
		want := "broker,controller"
		if i >= len(voters) {
			want = "broker"
		}
		if got := processRoles(t, c.Broker(i)); got != want {
			t.Fatalf("broker %d: process.roles=%s, want %s", i+1, got, want)
		}
	}
	createAssigned(t, c, "roles", 4, 5, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	producer := c.Client(kgo.DefaultProduceTopic("roles"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(500))
	load := startAckLoad(ctx, producer)

	// The active controller, found through a broker-only node.
	load.progress(c, "produce progress")
	ctrl := killActiveController(ctx, t, c, 3, voters)
	load.progress(c, "produce progress after the controller kill")
	c.Restart(ctrl)

	// The partition's leader, a broker-only node.
	killLeaderThenReadBack(ctx, t, c, "roles", load, observers)

	// After the kills the broker-only nodes are still observers, never
	// voters, AddRaftVoter refuses to make one a voter, and every node is
	// a broker in Metadata.
	waitQuorum(t, c, voters, observers)
	c.WaitFor("AddRaftVoter of broker-only node 5 refused", 60*time.Second, func() bool {
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		defer acancel()
		kr, err := c.Broker(3).Request(actx, addVoterRequest(t, c, 5))
		if err != nil {
			return false
		}
		resp := kr.(*kmsg.AddRaftVoterResponse)
		switch resp.ErrorCode {
		case kerr.NotController.Code, kerr.RequestTimedOut.Code:
			return false
		case kerr.InvalidRequest.Code:
			return true
		}
		t.Fatalf("AddRaftVoter of broker-only node 5: %v %v", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
		return false
	})
	waitQuorum(t, c, voters, observers)
	for i := range c.Len() {
		if ids, _ := metadataBrokers(ctx, t, c.Broker(i)); !slices.Equal(ids, []int32{1, 2, 3, 4, 5}) {
			t.Fatalf("broker %d: Metadata lists brokers %v", i+1, ids)
		}
	}
}

// processRoles is broker b's process.roles as DescribeConfigs reports it.
func processRoles(t *testing.T, b *gregortest.Broker) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(b.ID())), []string{"process.roles"}
	req.Resources = append(req.Resources, rr)
	kr, err := b.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	res := kr.(*kmsg.DescribeConfigsResponse).Resources
	if len(res) != 1 || len(res[0].Configs) != 1 || res[0].Configs[0].Value == nil {
		t.Fatalf("DescribeConfigs process.roles on %d: %+v", b.ID(), res)
	}
	return *res[0].Configs[0].Value
}

// killActiveController kills the quorum leader, found through node via
// (an index), after checking it is one of voters, and returns its index.
func killActiveController(ctx context.Context, t *testing.T, c *gregortest.Cluster, via int, voters []int32) int {
	t.Helper()
	qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
	_, _, p, _, err := describeQuorum(qctx, c.Broker(via))
	qcancel()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(voters, p.LeaderID) {
		t.Fatalf("quorum leader %d is not a voter", p.LeaderID)
	}
	ctrl := int(p.LeaderID - 1)
	c.Kill(ctrl)
	t.Logf("killed the active controller %d", ctrl+1)
	return ctrl
}

// metadataBrokers is the sorted broker ids and the controller id of b's
// Metadata.
func metadataBrokers(ctx context.Context, t *testing.T, b *gregortest.Broker) ([]int32, int32) {
	t.Helper()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	defer mcancel()
	kr, err := b.Request(mctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	resp := kr.(*kmsg.MetadataResponse)
	var ids []int32
	for _, rb := range resp.Brokers {
		ids = append(ids, rb.NodeID)
	}
	slices.Sort(ids)
	return ids, resp.ControllerID
}

// killLeaderThenReadBack kills the leader of topic-0 (RF 3, which must be
// one of leaders) under load, restarts it once another leads, and reads
// every acknowledged record back once.
func killLeaderThenReadBack(ctx context.Context, t *testing.T, c *gregortest.Cluster, topic string, load *ackLoad, leaders []int32) {
	t.Helper()
	victim := waitLeader(t, c, topic, 3, -1)
	if id := int32(victim + 1); !slices.Contains(leaders, id) {
		t.Fatalf("%s-0 is led by %d, want one of %v", topic, id, leaders)
	}
	c.Kill(victim)
	waitLeader(t, c, topic, 2, int32(victim+1))
	t.Logf("killed the leader %d", victim+1)
	load.progress(c, "produce progress after the leader kill")
	c.Restart(victim)
	waitLeaderWithin(t, c, topic, 3, -1, 2*time.Minute)
	load.progress(c, "produce progress after the restarts")
	readBackOnce(ctx, t, c, topic, load.finish(t))
}
