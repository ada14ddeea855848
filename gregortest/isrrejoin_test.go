package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// alterPartitionRequests sums the AlterPartition requests the running
// brokers have served (the active controller serves those of the others;
// its own partitions' changes need no request).
func alterPartitionRequests(c *gregortest.Cluster) float64 {
	var n float64
	for i := range c.Len() {
		for _, v := range []string{"0", "1", "2", "3"} {
			if x, ok := scrape(c, i, `gregor_requests_total{api="AlterPartition",version="`+v+`"}`); ok {
				n += x
			}
		}
	}
	return n
}

// TestISRRejoinAfterRestart: a broker killed while it follows 200
// partitions (RF 3) comes back and rejoins every ISR; each leader's ISR
// expansions reach the controller batched, so the rejoin does not take
// one controller write per partition. The rejoin time and the requests
// it took are logged. (Most of the time before the first rejoin is
// hashicorp/raft's leader backing off its appends to the node while it
// was down, up to about 10 s, before the node can catch up and register.)
func TestISRRejoinAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("200 partitions, a kill and a restart")
	}
	t.Parallel()
	const topic, partitions = "rejoin", 200
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("http.listeners=http://127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	isrSize := func(want int) func() bool {
		return func() bool {
			for i := range c.Len() {
				if !c.Broker(i).Running() {
					continue
				}
				for p := range int32(partitions) {
					l, isr, ok := c.Broker(i).Partition(topic, p)
					if !ok || l < 0 || len(isr) != want {
						return false
					}
				}
			}
			return true
		}
	}
	c.WaitFor("every ISR full", 2*time.Minute, isrSize(3))

	// A record in every partition, so the restarted follower has
	// something to catch up on.
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceAll := func() {
		for p := range int32(partitions) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce to %d: %v", p, err)
			}
		}
	}
	produceAll()

	victim := 2
	c.Kill(victim)
	c.WaitFor("every ISR without the killed broker", 2*time.Minute, isrSize(2))
	produceAll()

	before := alterPartitionRequests(c)
	start := time.Now()
	c.Restart(victim)
	restarted := time.Since(start)
	c.WaitFor("a first ISR with the restarted broker", 3*time.Minute, func() bool {
		for p := range int32(partitions) {
			if _, isr, ok := c.Broker(0).Partition(topic, p); ok && len(isr) == 3 {
				return true
			}
		}
		return false
	})
	first := time.Since(start)
	c.WaitFor("every ISR full after the restart", 3*time.Minute, isrSize(3))
	took := time.Since(start)
	t.Logf("%d partitions rejoined the ISR %v after the restart began (broker started after %v, first ISR rejoined after %v); %.0f AlterPartition requests served meanwhile",
		partitions, took.Round(time.Millisecond), restarted.Round(time.Millisecond), first.Round(time.Millisecond), alterPartitionRequests(c)-before)
}
