package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestPause pauses a partition's leader past the session timeout: it
// answers nothing, the others move the leadership away and take acks=all
// writes; after Resume it follows again and every record is there once.
func TestPause(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster")
	}
	c := gregortest.NewCluster(t, gregortest.Pausable())
	createTopic(t, c, "pause")
	old := waitLeader(t, c, "pause", 3, -1)
	produce := func(cl *kgo.Client, v string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "pause", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	produce(c.Client(), "before")

	c.Pause(old)
	if !c.Paused(old) {
		t.Fatal("not paused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := c.Broker(old).Request(ctx, kmsg.NewPtrMetadataRequest())
	cancel()
	if err == nil {
		t.Fatal("the paused broker answered a request")
	}
	var others []string
	for i := 0; i < c.Len(); i++ {
		if i != old {
			others = append(others, c.Broker(i).Addr())
		}
	}
	c.WaitFor("a new leader among the others", 30*time.Second, func() bool {
		for i := 0; i < c.Len(); i++ {
			if i == old {
				continue
			}
			if l, _, ok := c.Broker(i).Partition("pause", 0); !ok || l < 0 || int(l-1) == old {
				return false
			}
		}
		return true
	})
	cl, err := kgo.NewClient(append(c.ClientOpts(), kgo.SeedBrokers(others...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce(cl, "during")

	c.Resume(old)
	waitLeader(t, c, "pause", 3, -1)
	produce(c.Client(), "after")
	cons := c.Client(kgo.ConsumeTopics("pause"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 3 || got[0] != "before" || got[1] != "during" || got[2] != "after" {
		t.Fatalf("read %q, want before, during, after", got)
	}
}
