package gregortest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestUnregisterBroker: broker 3 is killed and unregistered; every broker's
// Metadata and DescribeCluster then list brokers 1 and 2 only, no ISR
// holds 3 and its replica ids stay; an unknown id is
// BROKER_ID_NOT_REGISTERED. Restarted, broker 3 registers again; a running
// broker that is unregistered registers again at its next heartbeat.
func TestUnregisterBroker(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "unreg"); err != nil {
		t.Fatal(err)
	}
	unregister := func(id int32) int16 {
		t.Helper()
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		resp, err := c.Broker(0).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.UnregisterBrokerResponse).ErrorCode
	}
	// brokersSeen returns the brokers broker i's Metadata lists, and
	// whether any ISR of unreg holds id.
	brokersSeen := func(i int, id int32) ([]int32, bool) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("unreg")
		req.Topics = append(req.Topics, rt)
		resp, err := c.Broker(i).Request(ctx, req)
		if err != nil {
			return nil, true
		}
		m := resp.(*kmsg.MetadataResponse)
		var ids []int32
		for _, b := range m.Brokers {
			ids = append(ids, b.NodeID)
		}
		slices.Sort(ids)
		inISR := false
		for _, tp := range m.Topics {
			for _, p := range tp.Partitions {
				inISR = inISR || slices.Contains(p.ISR, id) || !slices.Contains(p.Replicas, id)
			}
		}
		return ids, inISR
	}

	c.Kill(2)
	// Broker 3 may have been the active controller: NOT_CONTROLLER until
	// the others elect one.
	var code int16
	c.WaitFor("a controller to answer UnregisterBroker", 30*time.Second, func() bool {
		code = unregister(3)
		return code != kerr.NotController.Code
	})
	if code != 0 && code != kerr.BrokerIDNotRegistered.Code { // (a retry after a NOT_CONTROLLER that went through)
		t.Fatalf("unregister 3: error %d", code)
	}
	for i := 0; i < 2; i++ {
		// Read-your-writes on broker 1 (it answered); broker 2 follows.
		c.WaitFor("broker 3 gone from the metadata", 10*time.Second, func() bool {
			ids, inISR := brokersSeen(i, 3)
			return slices.Equal(ids, []int32{1, 2}) && !inISR
		})
		resp, err := c.Broker(i).Request(ctx, kmsg.NewPtrDescribeClusterRequest())
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.(*kmsg.DescribeClusterResponse).Brokers); n != 2 {
			t.Fatalf("broker %d: DescribeCluster lists %d brokers", i+1, n)
		}
	}
	if code := unregister(3); code != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister 3 again: error %d, want BROKER_ID_NOT_REGISTERED", code)
	}
	if code := unregister(42); code != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister 42: error %d, want BROKER_ID_NOT_REGISTERED", code)
	}

	c.Restart(2)
	c.WaitFor("broker 3 registered again", 30*time.Second, func() bool {
		ids, _ := brokersSeen(0, 3)
		return slices.Equal(ids, []int32{1, 2, 3})
	})
	// A running broker registers again at its next heartbeat.
	if code := unregister(2); code != 0 {
		t.Fatalf("unregister running broker 2: error %d", code)
	}
	c.WaitFor("running broker 2 registered again", 30*time.Second, func() bool {
		ids, _ := brokersSeen(0, 2)
		return slices.Equal(ids, []int32{1, 2, 3})
	})
}
