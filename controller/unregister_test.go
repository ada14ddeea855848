package controller

import (
	"errors"
	"slices"
	"testing"
)

// TestUnregisterBroker: the broker's registration leaves the metadata
// (and stays gone after a reopen), its leaderships and ISR places move as
// in fencing, its replica ids stay; an unknown id is refused; the broker
// may register again.
func TestUnregisterBroker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir, 1, 2, 3)
	tp := mustCreate(t, c, CreateTopic{Name: "u", NumPartitions: 3, ReplicationFactor: 3})
	if err := c.UnregisterBroker(3); err != nil {
		t.Fatal(err)
	}
	check := func(c *Controller, what string) {
		t.Helper()
		s := c.Snapshot()
		if _, ok := s.Broker(3); ok {
			t.Fatalf("%s: broker 3 still registered", what)
		}
		if len(s.Brokers) != 2 {
			t.Fatalf("%s: brokers %v", what, s.Brokers)
		}
		for _, p := range s.Topic("u").Partitions {
			if p.Leader == 3 || slices.Contains(p.ISR, 3) || !slices.Contains(p.Replicas, 3) {
				t.Fatalf("%s: partition %+v", what, p)
			}
		}
	}
	check(c, "after unregister")
	for i, p := range tp.Partitions {
		if p.Leader == 3 && c.Snapshot().Topic("u").Partitions[i].LeaderEpoch <= p.LeaderEpoch {
			t.Fatalf("partition %d led by 3: epoch not bumped", i)
		}
	}
	if err := c.UnregisterBroker(3); !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("second unregister: %v", err)
	}
	if err := c.UnregisterBroker(9); !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("unknown broker: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{NodeID: 0, MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	check(c2, "after reopen")
	if err := c2.RegisterBroker(Broker{NodeID: 3, Host: "localhost", Port: 9095}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Snapshot().Broker(3); !ok {
		t.Fatal("broker 3 did not register again")
	}
}
