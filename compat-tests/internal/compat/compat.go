// Package compat holds what every Go client's compatibility tests share:
// where the broker is, the RESULT line format run.sh parses, the
// ApiVersions gate for APIs gregor does not serve yet, and the payloads
// the volume scenario writes and checks.
//
// Nothing here talks to a fake: every helper goes to the gregor process
// run.sh started (COMPAT_BOOTSTRAP, COMPAT_BOOTSTRAP_NOAUTO).
package compat

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bootstrap is the broker with default settings (auto-create on).
func Bootstrap() string { return envOr("COMPAT_BOOTSTRAP", "127.0.0.1:9092") }

// BootstrapNoAuto is a broker started with auto.create.topics.enable=false.
func BootstrapNoAuto() string { return os.Getenv("COMPAT_BOOTSTRAP_NOAUTO") }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Records is the record count of the volume scenario: COMPAT_RECORDS if
// set, else def.
func Records(def int) int {
	if v := os.Getenv("COMPAT_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n > 0 {
			return n
		}
	}
	return def
}

// T wraps testing.T to remember the first failure message, the skip reason
// and a detail, for the RESULT line.
type T struct {
	*testing.T
	mu     sync.Mutex
	first  string
	skip   string
	detail string
}

func (t *T) note(s string) {
	t.mu.Lock()
	if t.first == "" {
		t.first = s
	}
	t.mu.Unlock()
}

func (t *T) Fatalf(f string, a ...any) { t.Helper(); t.note(fmt.Sprintf(f, a...)); t.T.Fatalf(f, a...) }
func (t *T) Errorf(f string, a ...any) { t.Helper(); t.note(fmt.Sprintf(f, a...)); t.T.Errorf(f, a...) }
func (t *T) Fatal(a ...any)            { t.Helper(); t.note(fmt.Sprint(a...)); t.T.Fatal(a...) }
func (t *T) Skipf(f string, a ...any)  { t.Helper(); t.skip = fmt.Sprintf(f, a...); t.T.Skipf(f, a...) }

// Detail sets the text printed after PASS.
func (t *T) Detail(f string, a ...any) { t.detail = fmt.Sprintf(f, a...) }

// Check fails the scenario on a non-nil error.
func (t *T) Check(err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Run runs one scenario as a subtest and prints
// "RESULT <client> <scenario> PASS|FAIL|SKIP <detail>" when it ends.
func Run(t *testing.T, client, scenario string, fn func(t *T)) {
	t.Run(scenario, func(tt *testing.T) {
		w := &T{T: tt}
		start := time.Now()
		defer func() {
			status, d := "PASS", w.detail
			switch {
			case tt.Skipped():
				status, d = "SKIP", w.skip
			case tt.Failed():
				status, d = "FAIL", w.first
			}
			if d == "" && status == "PASS" {
				d = fmt.Sprintf("%.1fs", time.Since(start).Seconds())
			}
			d = strings.Join(strings.Fields(d), " ")
			if len(d) > 300 {
				d = d[:300] + "..."
			}
			fmt.Printf("RESULT %s %s %s %s\n", client, scenario, status, d)
		}()
		fn(w)
	})
}

// Topic returns a fresh topic name for a scenario.
func Topic(client, scenario string) string {
	return fmt.Sprintf("compat-%s-%s-%d", client, strings.ReplaceAll(scenario, "_", "-"), time.Now().UnixNano()%1e10)
}

// CreateTopic creates topic (partitions, replication factor 1) with a
// CreateTopics request, for scenarios whose client must find the topic
// with its leaders at once: the Metadata request that auto-creates a topic
// answers it LEADER_NOT_AVAILABLE, as Kafka's does.
func CreateTopic(topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(Bootstrap()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	return err
}

var (
	apiOnce sync.Once
	apis    map[int16][2]int16
	apiErr  error
)

// ServedAPIs asks the broker's ApiVersions (once per process).
func ServedAPIs() (map[int16][2]int16, error) {
	apiOnce.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(Bootstrap()))
		if err != nil {
			apiErr = err
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
		if err != nil {
			apiErr = err
			return
		}
		apis = map[int16][2]int16{}
		for _, k := range resp.ApiKeys {
			apis[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
	})
	return apis, apiErr
}

// RequireAPIs skips the scenario when the broker does not advertise every
// one of keys in ApiVersions.
func RequireAPIs(t *T, keys ...kmsg.Key) {
	t.Helper()
	m, err := ServedAPIs()
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	var missing []string
	for _, k := range keys {
		if _, ok := m[int16(k)]; !ok {
			missing = append(missing, k.Name())
		}
	}
	if len(missing) > 0 {
		t.Skipf("broker does not serve %s yet", strings.Join(missing, ","))
	}
}

// GroupAPIs are the classic consumer group APIs.
var GroupAPIs = []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.OffsetCommit, kmsg.OffsetFetch}

// VolumeValue builds a size-byte value carrying partition and per-partition
// sequence in its first 12 bytes, the rest random (so compression cannot
// make the scenario trivially cheap).
func VolumeValue(buf []byte, partition int32, seq int64) []byte {
	binary.BigEndian.PutUint32(buf[0:4], uint32(partition))
	binary.BigEndian.PutUint64(buf[4:12], uint64(seq))
	return buf
}

// RandomFill fills b with random bytes.
func RandomFill(b []byte) { _, _ = rand.Read(b) }

// ParseVolumeValue reads back what VolumeValue wrote.
func ParseVolumeValue(v []byte) (partition int32, seq int64, ok bool) {
	if len(v) < 12 {
		return 0, 0, false
	}
	return int32(binary.BigEndian.Uint32(v[0:4])), int64(binary.BigEndian.Uint64(v[4:12])), true
}

// SeqChecker checks per-partition sequences arrive 0,1,2,... with no gaps
// and no duplicates.
type SeqChecker struct {
	next   map[int32]int64
	Total  int
	Errors []string
	Bytes  int64
}

func NewSeqChecker() *SeqChecker { return &SeqChecker{next: map[int32]int64{}} }

// Add records one consumed value from partition p.
func (c *SeqChecker) Add(p int32, v []byte) {
	c.Total++
	c.Bytes += int64(len(v))
	vp, seq, ok := ParseVolumeValue(v)
	switch {
	case !ok:
		c.err("partition %d: short value of %d bytes", p, len(v))
	case vp != p:
		c.err("partition %d: value written for partition %d", p, vp)
	case seq != c.next[p]:
		c.err("partition %d: got seq %d, want %d", p, seq, c.next[p])
		c.next[p] = seq + 1
	default:
		c.next[p]++
	}
}

func (c *SeqChecker) err(f string, a ...any) {
	if len(c.Errors) < 10 {
		c.Errors = append(c.Errors, fmt.Sprintf(f, a...))
	}
}

// Verify compares against the per-partition counts that were written.
func (c *SeqChecker) Verify(written map[int32]int64) error {
	if len(c.Errors) > 0 {
		return fmt.Errorf("%d+ order errors: %s", len(c.Errors), strings.Join(c.Errors, "; "))
	}
	for p, n := range written {
		if c.next[p] != n {
			return fmt.Errorf("partition %d: read %d records, wrote %d", p, c.next[p], n)
		}
	}
	for p, n := range c.next {
		if _, ok := written[p]; !ok {
			return fmt.Errorf("partition %d: read %d records, wrote none", p, n)
		}
	}
	return nil
}

// VolumePartitions is the partition count of the volume scenario's topic.
const VolumePartitions = 16

// VolumeRecordSize is the size of each volume record's value.
const VolumeRecordSize = 1024

// NewVolumeValue returns a fresh 1 KiB value for partition p, sequence seq:
// the header, then half random bytes and half a repeated pattern, so
// compression has something to do but cannot make the data vanish.
func NewVolumeValue(p int32, seq int64) []byte {
	v := make([]byte, VolumeRecordSize)
	VolumeValue(v, p, seq)
	RandomFill(v[12 : VolumeRecordSize/2])
	for i := VolumeRecordSize / 2; i < VolumeRecordSize; i++ {
		v[i] = byte(i)
	}
	return v
}

// MBps formats a throughput.
func MBps(bytes int64, d time.Duration) string {
	return fmt.Sprintf("%.1f MB/s", float64(bytes)/1e6/d.Seconds())
}
