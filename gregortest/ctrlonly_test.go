package gregortest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestControllerOnlyNodesUnderLoad: KRaft's split deployment, three
// controller-only voters (process.roles=controller) and three broker-only
// observers. acks=all idempotent produce runs while the active controller
// (a controller-only node) and then the partition's leader are killed and
// restarted; every acknowledged record is read back once, in order.
// Placement never picks a controller, Metadata lists only the three
// brokers (with a broker as controller id), DescribeQuorum shows three
// voters and three observers, and CreateTopics and
// IncrementalAlterConfigs reach the new active controller through the
// brokers' forwarding.
func TestControllerOnlyNodesUnderLoad(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(6), gregortest.ControllerOnly(3))
	voters, brokers := []int32{1, 2, 3}, []int32{4, 5, 6}
	waitQuorum(t, c, voters, brokers)
	for i := range c.Len() {
		want := "controller"
		if i >= len(voters) {
			want = "broker"
		}
		if got := processRoles(t, c.Broker(i)); got != want {
			t.Fatalf("node %d: process.roles=%s, want %s", i+1, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())

	// Default placement (RF 3, 6 partitions) uses the brokers only.
	placed := func(topic string) {
		t.Helper()
		if _, err := adm.CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		var details kadm.TopicDetails
		c.WaitFor(topic+" in metadata", 30*time.Second, func() bool {
			var err error
			details, err = adm.ListTopics(ctx, topic)
			return err == nil && details[topic].Err == nil && len(details[topic].Partitions) == 6
		})
		for _, p := range details[topic].Partitions {
			r := slices.Sorted(slices.Values(p.Replicas))
			if !slices.Equal(r, brokers) {
				t.Fatalf("%s-%d on replicas %v, want %v", topic, p.Partition, p.Replicas, brokers)
			}
		}
	}
	placed("split-placed")
	createAssigned(t, c, "split", 4, 5, 6)

	producer := c.Client(kgo.DefaultProduceTopic("split"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(500))
	load := startAckLoad(ctx, producer)
	load.progress(c, "produce progress")

	ctrl := killActiveController(ctx, t, c, 3, voters)
	load.progress(c, "produce progress after the controller kill")

	// Admin requests through the brokers reach the new controller.
	placed("split-after-kill")
	c.WaitFor("IncrementalAlterConfigs through forwarding", 60*time.Second, func() bool {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("3600000")}}, "split-after-kill")
		if err != nil {
			return false
		}
		r, err := resp.On("split-after-kill", nil)
		return err == nil && r.Err == nil
	})
	// Each broker applies the change from the metadata log in its time.
	var adms []*kadm.Client
	for _, id := range brokers {
		if c.Broker(int(id - 1)).Running() {
			adms = append(adms, kadm.NewClient(c.Broker(int(id-1)).Client()))
		}
	}
	c.WaitFor("retention.ms altered", 30*time.Second, func() bool {
		for _, a := range adms {
			rc, err := a.DescribeTopicConfigs(ctx, "split-after-kill")
			if err != nil {
				return false
			}
			v, err := rc.On("split-after-kill", nil)
			if err != nil || !slices.ContainsFunc(v.Configs, func(c kadm.Config) bool { return c.Key == "retention.ms" && c.MaybeValue() == "3600000" }) {
				return false
			}
		}
		return true
	})
	c.Restart(ctrl)

	killLeaderThenReadBack(ctx, t, c, "split", load, brokers)

	waitQuorum(t, c, voters, brokers)
	for _, id := range brokers {
		if ids, ctrlID := metadataBrokers(ctx, t, c.Broker(int(id-1))); !slices.Equal(ids, brokers) || !slices.Contains(brokers, ctrlID) {
			t.Fatalf("broker %d: Metadata lists brokers %v, controller %d", id, ids, ctrlID)
		}
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		kr, err := c.Broker(int(id-1)).Request(dctx, kmsg.NewPtrDescribeClusterRequest())
		dcancel()
		if err != nil {
			t.Fatal(err)
		}
		dc := kr.(*kmsg.DescribeClusterResponse)
		if len(dc.Brokers) != len(brokers) || !slices.Contains(brokers, dc.ControllerID) {
			t.Fatalf("broker %d: DescribeCluster %+v", id, dc)
		}
	}
	// A controller-only node serves the controller APIs only.
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	defer mcancel()
	if _, err := c.Broker(0).Request(mctx, kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("controller-only node 1 answered Metadata")
	}
}
