package broker

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

// TestLogFileBudget: logs are not opened beyond the descriptors they may
// hold (RLIMIT_NOFILE less a reserve); partitions past it answer
// KAFKA_STORAGE_ERROR while the others and new connections keep working,
// and open once descriptors are there again. Not parallel: the count of
// open segment files is the whole process's.
func TestLogFileBudget(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "opened", 1)
	rc := b.raw(t)
	produce := func(topic string) int16 {
		resp := rc.do(produceReq(topic, 0, 1, batch(-1, -1, -1, 1, []byte("v")))).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce("opened"); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}

	b.srv.parts.fileBudget.Store(storage.OpenSegmentFiles())
	createTopic(t, b, "over", 2)
	if code := produce("over"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce past the descriptor budget: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	if code := produce("opened"); code != 0 {
		t.Fatalf("produce to an open partition: %v", kerr.ErrorForCode(code))
	}
	b.raw(t).aliveAfter()

	b.srv.parts.fileBudget.Store(math.MaxInt64)
	if code := produce("over"); code != 0 {
		t.Fatalf("produce once descriptors are there: %v", kerr.ErrorForCode(code))
	}
	// The log opened outside reconcile still gets its replica state
	// (leadership: what acks=all on replicated partitions and loading
	// __consumer_offsets depend on), and its record is visible.
	p, err := b.srv.parts.get("over", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "over-0 led by this broker", 5*time.Second, func() bool {
		_, leader := p.leaderISR(b.srv.cfg.NodeID)
		return leader
	})
	if hw := p.log.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
}

// TestShortFailuresLoggedOnce: produce and fetch failures for want of
// descriptors log one error line per shortLogEvery, disk failures one
// each.
func TestShortFailuresLoggedOnce(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := newFakeClock()
	d := newLogDir(t.TempDir(), clock, zerolog.New(&out).Level(zerolog.InfoLevel))
	short := fmt.Errorf("%w: %w", storage.ErrStorage, syscall.EMFILE)
	disk := fmt.Errorf("%w: %w", storage.ErrStorage, syscall.EIO)
	for range 3 {
		d.failureEvent(short).Msg("produce failed")
		d.failureEvent(disk).Msg("produce failed")
	}
	clock.Advance(shortLogEvery - time.Millisecond)
	d.failureEvent(short).Msg("produce failed") // still within the period
	clock.Advance(time.Millisecond)
	d.failureEvent(short).Msg("produce failed") // the next period's line
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var shorts, disks int
	for _, l := range lines {
		switch {
		case strings.Contains(l, "too many open files"):
			shorts++
		case strings.Contains(l, "input/output error"):
			disks++
		}
	}
	if shorts != 2 || disks != 3 {
		t.Fatalf("%d descriptor lines (want 2) and %d disk lines (want 3):\n%s", shorts, disks, out.String())
	}
}
