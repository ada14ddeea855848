package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestClientQuotasForwarded: AlterClientQuotas sent to a broker that is
// not the controller is forwarded, and once acknowledged that broker's
// DescribeClientQuotas shows the change at once (read-your-writes).
func TestClientQuotasForwarded(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := func(i int) *kgo.Broker {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Broker(i).Addr()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl.SeedBrokers()[0]
	}
	first := conn(0)
	md, err := first.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	ctrlID := md.(*kmsg.MetadataResponse).ControllerID
	via := 0
	for i := range c.Len() {
		if c.Broker(i).ID() != ctrlID {
			via = i
			break
		}
	}
	br := conn(via)
	for n := range 5 {
		alter := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		e.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("alice")}}
		e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: float64(1000 + n)}}
		alter.Entries = append(alter.Entries, e)
		resp, err := br.Request(ctx, alter)
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.(*kmsg.AlterClientQuotasResponse); len(r.Entries) != 1 || r.Entries[0].ErrorCode != 0 {
			t.Fatalf("alter via broker %d: %+v", c.Broker(via).ID(), r.Entries)
		}
		desc, err := br.Request(ctx, kmsg.NewPtrDescribeClientQuotasRequest())
		if err != nil {
			t.Fatal(err)
		}
		d := desc.(*kmsg.DescribeClientQuotasResponse)
		if len(d.Entries) != 1 || len(d.Entries[0].Values) != 1 || d.Entries[0].Values[0].Value != float64(1000+n) {
			t.Fatalf("describe after alter %d on broker %d: %+v", n, c.Broker(via).ID(), d.Entries)
		}
	}
}
