package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// TestLeaderDiskFull: the partition leader's disk fills up (through
// DiskFaults); it answers produce with KAFKA_STORAGE_ERROR instead of
// acknowledging, and once space is back it acknowledges again. Every
// acknowledged record is read back once.
func TestLeaderDiskFull(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	createTopic(t, c, "disk")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := waitLeader(t, c, "disk", 3, -1)
	if code := produceDirect(ctx, t, c, leader, "disk", "before"); code != 0 {
		t.Fatalf("produce before the disk filled: %v", kerr.ErrorForCode(code))
	}

	c.DiskFaults(leader).SetSpace(0)
	if code := produceDirect(ctx, t, c, leader, "disk", "full"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to a full disk answered %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}

	c.DiskFaults(leader).Heal()
	c.WaitFor("the leader acknowledges again", 30*time.Second, func() bool {
		return produceDirect(ctx, t, c, leader, "disk", "after") == 0
	})

	cons := c.Client(kgo.ConsumeTopics("disk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cons.Close()
	var got []string
	for len(got) < 2 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got[0] != "before" || got[1] != "after" {
		t.Fatalf("read back %q, want [before after]", got)
	}
}
