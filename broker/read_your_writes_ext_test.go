package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestAdminReadYourWrites: CreateTopics, CreatePartitions, DeleteTopics
// and IncrementalAlterConfigs sent to a broker that is not the controller
// (so forwarded) are visible in Metadata and DescribeConfigs on that
// broker as soon as they are acknowledged. It logs how long the other
// brokers took to show each change.
func TestAdminReadYourWrites(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// One connection per broker, reused.
	conns := make([]*kgo.Broker, c.Len())
	for i := range c.Len() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Broker(i).Addr()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		conns[i] = cl.SeedBrokers()[0]
	}
	do := func(i int, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := conns[i].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// partitions is the partition count broker i reports for topic, -1 when
	// it does not list it (all-topics Metadata: never auto-creates).
	partitions := func(i int, topic string) int {
		resp := do(i, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
		for _, mt := range resp.Topics {
			if mt.Topic != nil && *mt.Topic == topic && mt.ErrorCode == 0 {
				return len(mt.Partitions)
			}
		}
		return -1
	}
	ctrlID := do(0, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).ControllerID
	via := -1
	for i := range c.Len() {
		if c.Broker(i).ID() != ctrlID {
			via = i
			break
		}
	}
	if via < 0 {
		t.Fatalf("no broker other than the controller %d", ctrlID)
	}

	var converge []time.Duration
	// others waits until every other broker reports want and records how
	// long that took.
	others := func(topic string, want int) {
		t.Helper()
		start := time.Now()
		for i := range c.Len() {
			if i == via {
				continue
			}
			for partitions(i, topic) != want {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("broker %d: %s has not %d partitions after 10s", i, topic, want)
				}
				time.Sleep(time.Millisecond) // polling for the measurement
			}
		}
		converge = append(converge, time.Since(start))
	}

	for iter := range 20 {
		topic := fmt.Sprintf("ryw-%d", iter)

		ct := kmsg.NewPtrCreateTopicsRequest()
		ct.TimeoutMillis = 30000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 2, 3
		ct.Topics = append(ct.Topics, rt)
		if code := do(via, ct).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("%s: create: error %d", topic, code)
		}
		if n := partitions(via, topic); n != 2 {
			t.Fatalf("%s: right after CreateTopics the broker that answered lists %d partitions, want 2", topic, n)
		}
		others(topic, 2)

		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.TimeoutMillis = 30000
		cpt := kmsg.NewCreatePartitionsRequestTopic()
		cpt.Topic, cpt.Count = topic, 4
		cp.Topics = append(cp.Topics, cpt)
		if code := do(via, cp).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("%s: create partitions: error %d", topic, code)
		}
		if n := partitions(via, topic); n != 4 {
			t.Fatalf("%s: right after CreatePartitions the broker that answered lists %d partitions, want 4", topic, n)
		}
		others(topic, 4)

		ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op, cfg.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(fmt.Sprint(1000000+iter))
		res.Configs = append(res.Configs, cfg)
		ia.Resources = append(ia.Resources, res)
		if code := do(via, ia).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; code != 0 {
			t.Fatalf("%s: alter configs: error %d", topic, code)
		}
		dc := kmsg.NewPtrDescribeConfigsRequest()
		dres := kmsg.NewDescribeConfigsRequestResource()
		dres.ResourceType, dres.ResourceName, dres.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
		dc.Resources = append(dc.Resources, dres)
		dresp := do(via, dc).(*kmsg.DescribeConfigsResponse)
		if len(dresp.Resources) != 1 || len(dresp.Resources[0].Configs) != 1 ||
			dresp.Resources[0].Configs[0].Value == nil || *dresp.Resources[0].Configs[0].Value != fmt.Sprint(1000000+iter) {
			t.Fatalf("%s: right after IncrementalAlterConfigs DescribeConfigs answers %+v", topic, dresp.Resources)
		}

		dt := kmsg.NewPtrDeleteTopicsRequest()
		dt.TimeoutMillis = 30000
		dtt := kmsg.NewDeleteTopicsRequestTopic()
		dtt.Topic = kmsg.StringPtr(topic)
		dt.Topics = append(dt.Topics, dtt)
		dt.TopicNames = []string{topic}
		if code := do(via, dt).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("%s: delete: error %d", topic, code)
		}
		if n := partitions(via, topic); n != -1 {
			t.Fatalf("%s: right after DeleteTopics the broker that answered lists %d partitions", topic, n)
		}
		others(topic, -1)
	}
	slices.Sort(converge)
	t.Logf("other brokers converged after %d changes: p50 %v, max %v", len(converge), converge[len(converge)/2], converge[len(converge)-1])
}
