package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage/vfs"
)

// gregorProc is a real gregor process (the binary built by buildGregor).
type gregorProc struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	args []string
	cmd  *exec.Cmd
	out  *os.File
}

// buildGregor builds cmd/gregor into a temporary directory.
func buildGregor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gregor")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/gregor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func issue3FreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startGregorProc starts bin on a fresh port with its data in dir.
func startGregorProc(t *testing.T, bin, dir string, overrides ...string) *gregorProc {
	t.Helper()
	p := &gregorProc{t: t, bin: bin, dir: dir, addr: issue3FreeAddr(t)}
	p.args = []string{"serve", "--override", "log.dirs=" + dir, "--override", "listeners=PLAINTEXT://" + p.addr}
	for _, o := range overrides {
		p.args = append(p.args, "--override", o)
	}
	p.start()
	return p
}

func (p *gregorProc) start() {
	p.t.Helper()
	var err error
	p.out, err = os.OpenFile(filepath.Join(p.t.TempDir(), "gregor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, append(p.args, "--log-format", "json")...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	cmd := p.cmd
	p.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.out.Name())
			p.t.Fatalf("gregor did not listen on %s: %v\n%s", p.addr, err, b)
		}
		time.Sleep(20 * time.Millisecond) // poll interval: a separate process has no event to wait for
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *gregorProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	p.cmd.Wait()
	p.out.Close()
}

// restart starts the binary again on the same data dir and address.
func (p *gregorProc) restart() { p.start() }

func (p *gregorProc) client(opts ...kgo.Opt) *kgo.Client {
	p.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.addr)}, opts...)...)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(cl.Close)
	return cl
}

// TestCrashKill9DuringProduce runs the real binary with log.flush.on.append,
// produces with acks=all from several goroutines, SIGKILLs the process in the
// middle of the stream, restarts it on the same data and checks that every
// acknowledged record is there at its offset, that offsets continue without a
// gap, and that a consumer from the beginning gets only valid batches (kgo
// checks every batch's CRC-32C). Twice, so the second crash hits a log that
// was itself recovered.
func TestCrashKill9DuringProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gregor binary")
	}
	t0 := time.Now()
	bin := buildGregor(t)
	t.Logf("built gregor in %v", time.Since(t0).Round(time.Millisecond))
	dir := t.TempDir()
	p := startGregorProc(t, bin, dir, "log.flush.on.append=true")
	const topic, parts = "crash", 4
	ctx := context.Background()
	adm := kadm.NewClient(p.client())
	if _, err := adm.CreateTopic(ctx, parts, 1, map[string]*string{
		"segment.bytes": kmsg.StringPtr("1048576"), // rolls during the stream
	}, topic); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[int32]map[int64][]byte{}
	var seq uint64
	for round := 1; round <= 2; round++ {
		cl := p.client(
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(time.Millisecond),
			kgo.ProducerBatchMaxBytes(64<<10),
			kgo.RecordRetries(2),
			kgo.RecordDeliveryTimeout(5*time.Second),
		)
		pctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var nAcked, nFailed int
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pctx.Err() == nil {
					mu.Lock()
					seq++
					n := seq
					mu.Unlock()
					v := make([]byte, 512+int(n%1024))
					binary.BigEndian.PutUint64(v, n)
					rand.Read(v[8:])
					r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", n%97), Value: v}
					cl.Produce(pctx, r, func(r *kgo.Record, err error) {
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							nFailed++
							return
						}
						nAcked++
						if acked[r.Partition] == nil {
							acked[r.Partition] = map[int64][]byte{}
						}
						acked[r.Partition][r.Offset] = r.Value
					})
				}
			}()
		}
		// Kill in full flow: some time after the first acknowledgements.
		start := time.Now()
		waitFor(t, "acknowledgements before the kill", 20*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return nAcked > 0
		})
		// Named exception to "no sleeping": a random point in full flow of
		// a separate process has no event to wait for.
		// TestCrashFaultFSDuringProduce crashes at an observed point.
		time.Sleep(time.Duration(1000+mrand.IntN(1000)) * time.Millisecond)
		p.kill()
		mu.Lock()
		atKill := nAcked
		mu.Unlock()
		stop()
		wg.Wait()
		cl.Close() // fails what is still buffered or in flight
		mu.Lock()
		// Acks can still arrive after the kill: kgo runs promises from a
		// goroutine of its own, after the response was read.
		t.Logf("round %d: killed after %v with %d records acknowledged (%d more acks delivered after the process died, %d failed)",
			round, time.Since(start).Round(time.Millisecond), atKill, nAcked-atKill, nFailed)
		mu.Unlock()

		p.restart()
		checkAllAcked(t, p, topic, parts, acked)
	}

	// Offsets continue after the last acknowledged one, without a gap.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := p.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for part := int32(0); part < parts; part++ {
		maxOff := int64(-1)
		for o := range acked[part] {
			maxOff = max(maxOff, o)
		}
		total += len(acked[part])
		end, _ := ends.Lookup(topic, part)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("after")}).First()
		if err != nil {
			t.Fatal(err)
		}
		if r.Offset != end.Offset || r.Offset <= maxOff {
			t.Fatalf("partition %d: new record at %d, end offset was %d, last acknowledged %d", part, r.Offset, end.Offset, maxOff)
		}
	}
	t.Logf("%d acknowledged records over 2 crashes, all present; offsets continue", total)
}

// checkAllAcked consumes every partition from the beginning to its end
// offset: offsets must be consecutive (the topic is not compacted), every
// batch valid, and every acknowledged record present with its value.
func checkAllAcked(t *testing.T, p interface{ client(...kgo.Opt) *kgo.Client }, topic string, parts int32, acked map[int32]map[int64][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(p.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	want := map[int32]int64{}
	for part := int32(0); part < parts; part++ {
		end, ok := ends.Lookup(topic, part)
		if !ok || end.Err != nil {
			t.Fatalf("partition %d end offset: %+v", part, end)
		}
		want[part] = end.Offset
		offsets[topic][part] = kgo.NewOffset().At(0)
	}
	cons := p.client(kgo.ConsumePartitions(offsets), kgo.FetchMaxBytes(8<<20))
	next := map[int32]int64{}
	found := 0
	for {
		done := true
		for part := int32(0); part < parts; part++ {
			if next[part] < want[part] {
				done = false
			}
		}
		if done {
			break
		}
		fs := cons.PollFetches(ctx)
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			if v, ok := acked[r.Partition][r.Offset]; ok {
				if string(v) != string(r.Value) {
					t.Fatalf("partition %d offset %d: value differs from the acknowledged one", r.Partition, r.Offset)
				}
				found++
			}
		})
	}
	total := 0
	for part, m := range acked {
		total += len(m)
		for o := range m {
			if o >= want[part] {
				t.Fatalf("partition %d: acknowledged offset %d missing (end offset %d)", part, o, want[part])
			}
		}
	}
	if found != total {
		t.Fatalf("found %d of %d acknowledged records", found, total)
	}
	t.Logf("after restart: end offsets %v, all %d acknowledged records read back", want, total)
}

// TestCrashFaultFSDuringProduce is TestCrashKill9DuringProduce in process:
// the broker's disk stops taking writes (vfs.FaultFS.CrashAfter, the first
// refused write torn) while producers with acks=all are in full flow, the
// broker stops without a controlled shutdown, and a broker started on the
// same directory with the real filesystem holds every acknowledged record.
func TestCrashFaultFSDuringProduce(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	cfg, err := Load("", nil, []string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir(), "log.flush.on.append=true"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.FS = ffs
	b := startBrokerConfig(t, cfg)
	const topic, parts = "crash", 4
	ctx := context.Background()
	adm := kadm.NewClient(b.client())
	if _, err := adm.CreateTopic(ctx, parts, 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1048576")}, topic); err != nil {
		t.Fatal(err)
	}
	cl := b.client(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RecordRetries(2),
		kgo.RecordDeliveryTimeout(5*time.Second),
	)
	var (
		mu     sync.Mutex
		acked  = map[int32]map[int64][]byte{}
		nAcked int
		seq    uint64
		wg     sync.WaitGroup
	)
	pctx, stop := context.WithCancel(ctx)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				mu.Lock()
				seq++
				n := seq
				mu.Unlock()
				v := make([]byte, 256+int(n%512))
				binary.BigEndian.PutUint64(v, n)
				rand.Read(v[8:])
				cl.Produce(pctx, &kgo.Record{Topic: topic, Value: v}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						return
					}
					nAcked++
					if acked[r.Partition] == nil {
						acked[r.Partition] = map[int64][]byte{}
					}
					acked[r.Partition][r.Offset] = r.Value
				})
			}
		}()
	}
	waitFor(t, "acknowledgements before the crash", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return nAcked >= 500
	})
	ffs.CrashAfter(0, true)
	b.crashQuiet()
	stop()
	wg.Wait()
	cl.Close()

	cfg = b.cfg
	cfg.Log.FS = nil
	cfg.Socket.Listeners = append([]Listener(nil), b.srv.cfg.Socket.Listeners...)
	cfg.Socket.AdvertisedListeners = append([]Listener(nil), b.srv.cfg.Socket.AdvertisedListeners...)
	b = startBrokerConfig(t, cfg)
	mu.Lock()
	defer mu.Unlock()
	checkAllAcked(t, b, topic, parts, acked)
}

// crashQuiet stops the broker without a controlled shutdown and waits for
// it, ignoring the error its dead disk makes Run return.
func (b *testBroker) crashQuiet() {
	b.t.Helper()
	b.srv.skipControlledShutdown.Store(true)
	b.cancel()
	b.cancel = nil
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		b.t.Fatal("broker did not stop within 30s")
	}
}
