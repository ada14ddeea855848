package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/storage/vfs"
)

// mountTmpfs mounts a tmpfs of the given size at a fresh directory and
// unmounts it at cleanup (after the broker using it has stopped: cleanups
// run last-registered first). It skips the test where mounting is not
// permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("needs root to mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestDiskFull fills the log dir (a small tmpfs) with produce requests:
// the append that hits ENOSPC fails with KAFKA_STORAGE_ERROR, the broker
// keeps serving reads of everything acknowledged, and once space is freed
// writes resume at the next offset (a kgo producer retrying meanwhile
// lands its records exactly once); after a restart nothing acknowledged
// is missing and nothing unacknowledged appeared.
//
// This version fills a real filesystem and needs root; TestDiskFullFaultFS
// runs the same scenario through the filesystem seam without.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "8m")
	// Space to free later: a file in the same tmpfs.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, "log.dirs="+dir)
	createTopic(t, b, "full", 1)
	testDiskFull(t, b,
		// Named exception to "no sleeping": the real disk offers nothing to
		// observe the producer's failed retries by.
		func() { time.Sleep(500 * time.Millisecond) },
		func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		})
}

// TestDiskFullFaultFS is TestDiskFull on a vfs.FaultFS whose space runs
// out after 256 KiB of writes once the topic exists.
func TestDiskFullFaultFS(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	cfg, err := Load("", nil, []string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.FS = ffs
	b := startBrokerConfig(t, cfg)
	createTopic(t, b, "full", 1)
	ffs.SetSpace(256 << 10)
	testDiskFull(t, b,
		func() {
			// The producer's retries reach the disk and fail there.
			n := ffs.Mutations()
			waitFor(t, "failed retries", 20*time.Second, func() bool { return ffs.Mutations() >= n+4 })
		},
		func() { ffs.SetSpace(-1) })
}

// testDiskFull fills b's log dir through topic "full" (created, one
// partition); waitRetries returns once a retrying producer has been
// refused a few times, free makes space again.
func testDiskFull(t *testing.T, b *testBroker, waitRetries, free func()) {
	t.Helper()
	rc := b.raw(t)

	// Each batch is one record whose value starts with its offset.
	value := func(i int64) []byte {
		v := make([]byte, 32<<10)
		binary.BigEndian.PutUint64(v, uint64(i))
		return v
	}
	produce := func(i int64) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return rc.do(produceReq("full", 0, 1, batch(-1, -1, -1, 1, value(i)))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	var acked int64
	var fullCode int16
	for range 1000 {
		p := produce(acked)
		if p.ErrorCode != 0 {
			fullCode = p.ErrorCode
			break
		}
		if p.BaseOffset != acked {
			t.Fatalf("acknowledged at offset %d, want %d", p.BaseOffset, acked)
		}
		acked++
	}
	if fullCode != kerr.KafkaStorageError.Code {
		t.Fatalf("after %d acknowledged appends: error %v, want KAFKA_STORAGE_ERROR", acked, kerr.ErrorForCode(fullCode))
	}
	t.Logf("disk full after %d acknowledged batches of 32 KiB", acked)
	// Still full: still refused, and the connection stays usable.
	for range 3 {
		if p := produce(acked); p.ErrorCode != kerr.KafkaStorageError.Code {
			t.Fatalf("second append on a full disk: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}

	consumeAll := func(want int64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c := b.client(kgo.ConsumeTopics("full"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer c.Close()
		for n := int64(0); n < want; {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", n, want)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != n || len(r.Value) != 32<<10 || int64(binary.BigEndian.Uint64(r.Value)) != n {
					t.Fatalf("record at offset %d (want %d) is not the one acknowledged", r.Offset, n)
				}
				n++
			})
		}
		lo := rc.do(&kmsg.ListOffsetsRequest{Version: 4, ReplicaID: -1, Topics: []kmsg.ListOffsetsRequestTopic{{Topic: "full",
			Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}}).(*kmsg.ListOffsetsResponse)
		if end := lo.Topics[0].Partitions[0].Offset; end != want {
			t.Fatalf("log end offset %d, want %d: a failed append left records behind", end, want)
		}
	}
	// Reads are served from the full disk: everything acknowledged.
	consumeAll(acked)

	// An idempotent kgo producer retries KAFKA_STORAGE_ERROR while the disk
	// is full; once space returns its records land exactly once, in order.
	p := b.client(kgo.DefaultProduceTopic("full"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const retried = 10
	produced := make(chan kgo.ProduceResults, 1)
	go func() {
		var recs []*kgo.Record
		for i := range int64(retried) {
			recs = append(recs, &kgo.Record{Value: value(acked + i)})
		}
		produced <- p.ProduceSync(context.Background(), recs...)
	}()
	waitRetries()
	select {
	case res := <-produced:
		t.Fatalf("produce on a full disk returned: %v", res.FirstErr())
	default:
	}

	// Space returns: writes resume at the next offset.
	free()
	for i, r := range <-produced {
		if r.Err != nil || r.Record.Offset != acked+int64(i) {
			t.Fatalf("retried record %d: %v at offset %d, want %d", i, r.Err, r.Record.Offset, acked+int64(i))
		}
	}
	acked += retried
	for range 5 {
		p := produce(acked)
		if p.ErrorCode != 0 || p.BaseOffset != acked {
			t.Fatalf("after freeing space: error %v at offset %d, want offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, acked)
		}
		acked++
	}
	consumeAll(acked)

	// A restart finds exactly what was acknowledged.
	b = b.restart()
	rc = b.raw(t)
	consumeAll(acked)
	if p := produce(acked); p.ErrorCode != 0 || p.BaseOffset != acked {
		t.Fatalf("after restart: error %v at offset %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}

// fdOf returns the descriptor this process holds open on path.
func fdOf(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	t.Fatalf("%s is not open", path)
	return -1
}

// TestReadErrorTakesLogDirOffline makes one partition's segment unreadable
// (its descriptor now refers to a directory, so pread fails with EISDIR):
// the fetch gets KAFKA_STORAGE_ERROR, the log dir goes offline for writes
// (every produce, to any partition, is KAFKA_STORAGE_ERROR) while reads of
// healthy partitions go on, the process keeps serving, and a restart
// brings the log dir back.
//
// This version swaps a real descriptor; TestReadErrorFaultFS injects EIO
// through the filesystem seam instead.
func TestReadErrorTakesLogDirOffline(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	testReadError(t, b, func() func() {
		seg := filepath.Join(b.cfg.Log.Dir, "sick-0", "00000000000000000000.log")
		fd := fdOf(t, seg)
		saved, err := syscall.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		dirFd, err := syscall.Open(b.cfg.Log.Dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Dup2(dirFd, fd); err != nil {
			t.Fatal(err)
		}
		syscall.Close(dirFd)
		restored := false
		restore := func() {
			if !restored {
				restored = true
				syscall.Dup2(saved, fd)
				syscall.Close(saved)
			}
		}
		t.Cleanup(restore)
		return restore
	})
}

// TestReadErrorFaultFS is TestReadErrorTakesLogDirOffline with EIO on
// every read of the partition's files from a vfs.FaultFS.
func TestReadErrorFaultFS(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	cfg, err := Load("", nil, []string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.FS = ffs
	b := startBrokerConfig(t, cfg)
	testReadError(t, b, func() func() {
		ffs.Fail(vfs.Rule{Ops: vfs.OpRead, Path: "sick-0", Err: syscall.EIO})
		return ffs.Heal
	})
}

// testReadError produces to topics "sick" and "well" on b, makes sick's
// segment unreadable with breakRead (which returns the repair), and checks
// the log dir goes offline for writes while healthy reads go on.
func testReadError(t *testing.T, b *testBroker, breakRead func() (restore func())) {
	t.Helper()
	createTopic(t, b, "sick", 1)
	createTopic(t, b, "well", 1)
	rc := b.raw(t)
	for _, topic := range []string{"sick", "well"} {
		if p := rc.do(produceReq(topic, 0, 1, batch(-1, -1, -1, 2, []byte("x")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce %s: %v", topic, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	fetch := func(topic string) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 11, -1, 1<<20, -1
		req.Topics = []kmsg.FetchRequestTopic{{Topic: topic, Partitions: []kmsg.FetchRequestTopicPartition{{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20}}}}
		return rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
	}
	produce := func(topic string) int16 {
		return rc.do(produceReq(topic, 0, 1, batch(-1, -1, -1, 1, []byte("y")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}

	restore := breakRead()

	if code := fetch("sick"); code != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of the unreadable segment: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	for _, topic := range []string{"sick", "well"} {
		if code := produce(topic); code != kerr.KafkaStorageError.Code {
			t.Fatalf("produce to %s with the log dir offline: %v, want KAFKA_STORAGE_ERROR", topic, kerr.ErrorForCode(code))
		}
	}
	if code := fetch("well"); code != 0 {
		t.Fatalf("fetch of a healthy partition: %v", kerr.ErrorForCode(code))
	}
	b.raw(t).aliveAfter()

	// The disk is back (the descriptor restored) and the broker restarted:
	// the log dir is online again and nothing was lost.
	restore()
	b = b.restart()
	rc = b.raw(t)
	for _, topic := range []string{"sick", "well"} {
		if code := produce(topic); code != 0 {
			t.Fatalf("produce to %s after restart: %v", topic, kerr.ErrorForCode(code))
		}
		if code := fetch(topic); code != 0 {
			t.Fatalf("fetch %s after restart: %v", topic, kerr.ErrorForCode(code))
		}
	}
}

// TestDescriptorExhaustionIsNotDiskFailure: an open that fails because the
// process ran out of file descriptors (or memory) does not take the log
// dir offline; a real I/O error does.
func TestDescriptorExhaustionIsNotDiskFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		disk bool
	}{
		{fmt.Errorf("broker: open t-0: %w: %w", storage.ErrStorage, &os.PathError{Op: "open", Path: "x.index", Err: syscall.EMFILE}), false},
		{fmt.Errorf("%w: %w", storage.ErrStorage, syscall.ENFILE), false},
		{fmt.Errorf("%w: %w", storage.ErrStorage, syscall.EIO), true},
		{fmt.Errorf("%w: %w", storage.ErrStorage, syscall.EISDIR), true},
	} {
		if got := isDiskFailure(tc.err); got != tc.disk {
			t.Errorf("isDiskFailure(%v) = %v, want %v", tc.err, got, tc.disk)
		}
	}
}
