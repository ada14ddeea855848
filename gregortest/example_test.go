package gregortest_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// A three-broker cluster, a replicated topic, a produce that survives a
// broker's death.
func Example() {
	test := func(t *testing.T) {
		c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("min.insync.replicas=2"))
		cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("events"))
		ctx := context.Background()
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "events"); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		c.Kill(0)
	}
	_ = test // run inside a Go test: func TestX(t *testing.T) { test(t) }
}

// TestExample runs the Example's body.
func TestExample(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("min.insync.replicas=2"))
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("events"))
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "events"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.Kill(0)
	if got := len(c.Seeds()); got != 2 {
		t.Fatalf("seeds after kill: %d", got)
	}
}
