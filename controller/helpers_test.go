package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func ptr[T any](v T) *T { return &v }

// snapshotNow takes a Raft snapshot of c. Nothing new to snapshot is
// fine: Raft's own snapshot timer took one just before (a loaded machine).
func snapshotNow(t *testing.T, c *Controller) {
	t.Helper()
	if err := c.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		t.Fatal(err)
	}
}

// openTest opens a controller in a temp dir with the given brokers
// registered (node 0 by default).
func openTest(t *testing.T, dir string, brokers ...int32) *Controller {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := Open(Config{NodeID: 0, MetadataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if len(brokers) == 0 {
		brokers = []int32{0}
	}
	for _, id := range brokers {
		if err := c.RegisterBroker(Broker{NodeID: id, Host: "localhost", Port: 9092 + id}); err != nil {
			t.Fatalf("RegisterBroker(%d): %v", id, err)
		}
	}
	return c
}

func mustCreate(t *testing.T, c *Controller, req CreateTopic) *Topic {
	t.Helper()
	if req.NumPartitions == 0 {
		req.NumPartitions = -1
	}
	if req.ReplicationFactor == 0 {
		req.ReplicationFactor = -1
	}
	tp, err := c.CreateTopic(req)
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", req.Name, err)
	}
	return tp
}

// wantErr checks err against a sentinel (nil = no error) and, if sub is
// non-empty, that the message contains it.
func wantErr(t *testing.T, err, want error, sub string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if sub != "" && !strings.Contains(err.Error(), sub) {
		t.Fatalf("error %q does not mention %q", err, sub)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func checkTopicInvariants(t *testing.T, s *Snapshot) {
	t.Helper()
	if len(s.Topics) != len(s.TopicsByID) {
		t.Fatalf("Topics has %d entries, TopicsByID %d", len(s.Topics), len(s.TopicsByID))
	}
	for name, tp := range s.Topics {
		if tp.Name != name || s.TopicsByID[tp.ID] != tp {
			t.Fatalf("topic %s indexed inconsistently", name)
		}
		if tp.ID == ([16]byte{}) {
			t.Fatalf("topic %s has a zero ID", name)
		}
		for i, p := range tp.Partitions {
			if p.Index != int32(i) || len(p.Replicas) == 0 || p.Leader != p.Replicas[0] {
				t.Fatalf("topic %s partition %d malformed: %+v", name, i, p)
			}
		}
	}
}
