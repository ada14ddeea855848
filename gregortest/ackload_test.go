package gregortest_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// ackLoad produces the records 0, 1, 2, ... (their values) to a single
// partition at 2,000 records/s and keeps the offset each was
// acknowledged at. Paced: at full speed on a loaded 2-core machine under
// -race, a restarted follower may not catch up to the high watermark, and
// so not rejoin the ISR, for minutes; the tests using it are about
// acknowledged records surviving kills.
type ackLoad struct {
	mu       sync.Mutex
	acked    map[int]int64 // value -> offset
	errs     []error
	wg       sync.WaitGroup
	stop     chan struct{}
	produced chan int
}

func startAckLoad(ctx context.Context, producer *kgo.Client) *ackLoad {
	l := &ackLoad{acked: map[int]int64{}, stop: make(chan struct{}), produced: make(chan int, 1)}
	go func() {
		i := 0
		defer func() { l.produced <- i }()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ; ; i++ {
			if i%20 == 0 {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
			}
			l.wg.Add(1)
			producer.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
				defer l.wg.Done()
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					l.errs = append(l.errs, err)
					return
				}
				n, _ := strconv.Atoi(string(r.Value))
				l.acked[n] = r.Offset
			})
		}
	}()
	return l
}

// ackedN is how many records are acknowledged so far.
func (l *ackLoad) ackedN() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// progress waits until 300 more records are acknowledged.
func (l *ackLoad) progress(c *gregortest.Cluster, what string) {
	before := l.ackedN()
	c.WaitFor(what, 60*time.Second, func() bool { return l.ackedN() >= before+300 })
}

// finish stops producing, waits for every answer and fails on a produce
// error; it returns the acknowledged offsets.
func (l *ackLoad) finish(t *testing.T) map[int]int64 {
	t.Helper()
	close(l.stop)
	total := <-l.produced
	l.wg.Wait()
	if len(l.errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(l.errs), l.errs[0])
	}
	t.Logf("%d records produced, %d acknowledged", total, len(l.acked))
	return l.acked
}

// readBackOnce reads topic from the start and fails unless every
// acknowledged record is there once, in order, at the offset it was
// acknowledged with.
func readBackOnce(ctx context.Context, t *testing.T, c *gregortest.Cluster, topic string, acked map[int]int64) {
	t.Helper()
	consumer := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[int]bool{}
	lastOffset, lastValue := int64(-1), -1
	for len(seen) < len(acked) && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("record %q at offset %d", r.Value, r.Offset)
			}
			if r.Offset <= lastOffset {
				t.Fatalf("offset %d after %d", r.Offset, lastOffset)
			}
			if n <= lastValue || seen[n] {
				t.Fatalf("record %d at offset %d after record %d (duplicate or out of order)", n, r.Offset, lastValue)
			}
			if off, ok := acked[n]; ok && off != r.Offset {
				t.Fatalf("record %d acknowledged at offset %d, read at %d", n, off, r.Offset)
			}
			lastOffset, lastValue = r.Offset, n
			seen[n] = true
		})
	}
	for n := range acked {
		if !seen[n] {
			t.Fatalf("acknowledged record %d (offset %d) not read back", n, acked[n])
		}
	}
}
