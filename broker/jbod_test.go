package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage/vfs"
)

// twoDirBroker starts a broker on two fresh log dirs.
func twoDirBroker(t *testing.T, ffs *vfs.FaultFS) (*testBroker, string, string) {
	t.Helper()
	d1, d2 := filepath.Join(t.TempDir(), "d1"), filepath.Join(t.TempDir(), "d2")
	cfg, err := Load("", nil, []string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + d1 + "," + d2})
	if err != nil {
		t.Fatal(err)
	}
	if ffs != nil {
		cfg.Log.FS = ffs
	}
	return startBrokerConfig(t, cfg), d1, d2
}

// describeDirs answers DescribeLogDirs (v4) as dir -> error code and
// dir -> "topic-partition" -> is_future.
func describeDirs(t *testing.T, rc *rawConn) (map[string]int16, map[string]map[string]bool) {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = 4
	resp := rc.do(req).(*kmsg.DescribeLogDirsResponse)
	codes, parts := map[string]int16{}, map[string]map[string]bool{}
	for _, d := range resp.Dirs {
		codes[d.Dir] = d.ErrorCode
		parts[d.Dir] = map[string]bool{}
		for _, dt := range d.Topics {
			for _, dp := range dt.Partitions {
				parts[d.Dir][partitionDir(dt.Topic, dp.Partition)] = dp.IsFuture
			}
		}
	}
	return codes, parts
}

// TestJBODPlacement: both log dirs get a meta.properties and partitions
// (the one with fewer partitions gets the next); DescribeLogDirs lists
// each dir's; after a restart every partition is found in its dir with
// its records.
func TestJBODPlacement(t *testing.T) {
	t.Parallel()
	b, d1, d2 := twoDirBroker(t, nil)
	createTopic(t, b, "spread", 4)
	waitFor(t, "the logs open", 10*time.Second, func() bool {
		for i := range int32(4) {
			if b.srv.parts.lookup("spread", i) == nil {
				return false
			}
		}
		return true
	})
	count := func(dir string) int {
		n := 0
		for i := range int32(4) {
			if exists(vfs.Default, filepath.Join(dir, partitionDir("spread", i))) {
				n++
			}
		}
		return n
	}
	if count(d1) != 2 || count(d2) != 2 {
		t.Fatalf("partitions per dir: %d in %s, %d in %s; want 2 and 2", count(d1), d1, count(d2), d2)
	}
	for _, d := range []string{d1, d2} {
		b, err := os.ReadFile(filepath.Join(d, metaPropertiesFile))
		if err != nil || !strings.Contains(string(b), "node.id=1\n") || !strings.Contains(string(b), "directory.id=") {
			t.Fatalf("%s/meta.properties: %q %v", d, b, err)
		}
	}
	rc := b.raw(t)
	for i := range int32(4) {
		if p := rc.do(produceReq("spread", i, 1, batch(-1, -1, -1, 2, []byte("x")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce spread-%d: %v", i, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	codes, parts := describeDirs(t, rc)
	if len(codes) != 2 || codes[d1] != 0 || codes[d2] != 0 || len(parts[d1]) != 2 || len(parts[d2]) != 2 {
		t.Fatalf("DescribeLogDirs: %v %v", codes, parts)
	}
	for dir, ps := range parts {
		for name := range ps {
			if !exists(vfs.Default, filepath.Join(dir, name)) {
				t.Fatalf("DescribeLogDirs lists %s under %s, which does not hold it", name, dir)
			}
		}
	}
	ids := map[string]bool{}
	for _, d := range b.srv.parts.dirs {
		ids[string(d.id[:])] = true
	}
	b = b.restart()
	for _, d := range b.srv.parts.dirs {
		if !ids[string(d.id[:])] {
			t.Fatalf("directory.id of %s changed across the restart", d.dir)
		}
	}
	for i := range int32(4) {
		p, err := b.srv.parts.get("spread", i)
		if err != nil || p.log.LogEndOffset() != 2 || !exists(vfs.Default, filepath.Join(p.dir.dir, partitionDir("spread", i))) {
			t.Fatalf("spread-%d after restart: %v, log end %d", i, err, p.log.LogEndOffset())
		}
	}
	if _, parts2 := describeDirs(t, b.raw(t)); len(parts2[d1]) != 2 || len(parts2[d2]) != 2 {
		t.Fatalf("after restart: %v", parts2)
	}
}

// TestJBODStartupRefusals: a partition in two log dirs, or a dir of
// another node, refuses start-up.
func TestJBODStartupRefusals(t *testing.T) {
	t.Parallel()
	b, d1, d2 := twoDirBroker(t, nil)
	createTopic(t, b, "dup", 1)
	waitFor(t, "the log opens", 10*time.Second, func() bool { return b.srv.parts.lookup("dup", 0) != nil })
	b.stop()
	in, other := d1, d2
	if !exists(vfs.Default, filepath.Join(d1, "dup-0")) {
		in, other = d2, d1
	}
	if err := os.Mkdir(filepath.Join(other, "dup-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(b.cfg, b.srv.log)
	if err == nil || !strings.Contains(err.Error(), "duplicate log directories for partition dup-0") || !strings.Contains(err.Error(), in) {
		t.Fatalf("start-up with dup-0 in both dirs: %v", err)
	}
	os.Remove(filepath.Join(other, "dup-0"))
	if err := os.WriteFile(filepath.Join(d2, metaPropertiesFile), []byte("version=1\nnode.id=7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(b.cfg, b.srv.log)
	if err == nil || !strings.Contains(err.Error(), "node.id=7") {
		t.Fatalf("start-up with another node's dir: %v", err)
	}
}

// TestJBODDirFailure: an I/O error writing to one log dir (EIO through
// the filesystem seam) takes that dir offline: its partitions answer
// KAFKA_STORAGE_ERROR and DescribeLogDirs reports it so, while the other
// dir's partitions keep taking writes and new partitions go there. A
// restart on a healed disk brings it back.
func TestJBODDirFailure(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	b, d1, d2 := twoDirBroker(t, ffs)
	createTopic(t, b, "fail", 2)
	waitFor(t, "the logs open", 10*time.Second, func() bool {
		return b.srv.parts.lookup("fail", 0) != nil && b.srv.parts.lookup("fail", 1) != nil
	})
	rc := b.raw(t)
	produce := func(topic string, p int32) int16 {
		return rc.do(produceReq(topic, p, 1, batch(-1, -1, -1, 1, []byte("y")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	sick, well := int32(0), int32(1)
	if b.srv.parts.lookup("fail", 0).dir.dir != d2 {
		sick, well = 1, 0
	}
	ffs.Fail(vfs.Rule{Ops: vfs.OpWrite | vfs.OpSync, Path: d2 + "/", Err: syscall.EIO})
	if code := produce("fail", sick); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the failing dir: %v", kerr.ErrorForCode(code))
	}
	ffs.Heal() // the dir stays offline until restart
	if code := produce("fail", sick); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the offline dir: %v", kerr.ErrorForCode(code))
	}
	if code := produce("fail", well); code != 0 {
		t.Fatalf("produce to the healthy dir: %v", kerr.ErrorForCode(code))
	}
	codes, _ := describeDirs(t, rc)
	if codes[d1] != 0 || codes[d2] != kerr.KafkaStorageError.Code {
		t.Fatalf("DescribeLogDirs: %v", codes)
	}
	createTopic(t, b, "after", 2)
	waitFor(t, "the new logs open", 10*time.Second, func() bool {
		return b.srv.parts.lookup("after", 0) != nil && b.srv.parts.lookup("after", 1) != nil
	})
	for i := range int32(2) {
		if d := b.srv.parts.lookup("after", i).dir.dir; d != d1 {
			t.Fatalf("new partition after-%d placed on %s, want the online %s", i, d, d1)
		}
		if code := produce("after", i); code != 0 {
			t.Fatalf("produce after-%d: %v", i, kerr.ErrorForCode(code))
		}
	}
	rc.aliveAfter()
	b = b.restart()
	rc = b.raw(t)
	if code := produce("fail", sick); code != 0 {
		t.Fatalf("produce to the failed dir after a restart: %v", kerr.ErrorForCode(code))
	}
	if codes, _ := describeDirs(t, rc); codes[d2] != 0 {
		t.Fatalf("DescribeLogDirs after restart: %v", codes)
	}
}

// TestAlterReplicaLogDirsErrors: Kafka's error codes, and a move to the
// replica's own dir is a no-op.
func TestAlterReplicaLogDirsErrors(t *testing.T) {
	t.Parallel()
	b, d1, d2 := twoDirBroker(t, nil)
	createTopic(t, b, "mv", 1)
	waitFor(t, "the log opens", 10*time.Second, func() bool { return b.srv.parts.lookup("mv", 0) != nil })
	own := b.srv.parts.lookup("mv", 0).dir.dir
	rc := b.raw(t)
	alter := func(v int16, dir, topic string, p int32) int16 {
		req := kmsg.NewPtrAlterReplicaLogDirsRequest()
		req.Version = v
		req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dir, Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: topic, Partitions: []int32{p}}}}}
		resp := rc.do(req).(*kmsg.AlterReplicaLogDirsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("AlterReplicaLogDirs v%d: %+v", v, resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for v := int16(0); v <= 2; v++ {
		for _, tc := range []struct {
			dir, topic string
			p          int32
			want       *kerr.Error
		}{
			{"/no/such/dir", "mv", 0, kerr.LogDirNotFound},
			{d1, "nope", 0, kerr.UnknownTopicOrPartition},
			{d1, "mv", 5, kerr.UnknownTopicOrPartition},
			{d2, "__consumer_offsets", 0, kerr.InvalidTopicException},
		} {
			if tc.topic == "__consumer_offsets" && b.srv.ctrl.Snapshot().Topic(tc.topic) == nil {
				continue
			}
			if code := alter(v, tc.dir, tc.topic, tc.p); code != tc.want.Code {
				t.Fatalf("v%d %s %s-%d: %v, want %v", v, tc.dir, tc.topic, tc.p, kerr.ErrorForCode(code), tc.want)
			}
		}
		if code := alter(v, own+"/", "mv", 0); code != 0 {
			t.Fatalf("v%d move to its own dir: %v", v, kerr.ErrorForCode(code))
		}
	}
	if len(b.srv.parts.futureReplicas()) != 0 || b.srv.parts.lookup("mv", 0).dir.dir != own {
		t.Fatal("a move to the replica's own dir started a move")
	}
}

// TestAlterReplicaLogDirsUnderProduce moves a replica to the other log
// dir while a producer writes to it: DescribeLogDirs shows the future
// replica under the destination while it copies (a slowed destination
// disk keeps it copying long enough to see), then the replica in the
// destination only; every acknowledged record is read back once, in
// order, and the old directory is gone.
func TestAlterReplicaLogDirsUnderProduce(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	b, d1, d2 := twoDirBroker(t, ffs)
	createTopic(t, b, "move", 1)
	waitFor(t, "the log opens", 10*time.Second, func() bool { return b.srv.parts.lookup("move", 0) != nil })
	src := b.srv.parts.lookup("move", 0).dir.dir
	dest := d2
	if src == d2 {
		dest = d1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := b.client(kgo.DefaultProduceTopic("move"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	var acked []string
	produce := func(n int) {
		for range n {
			v := []byte(strings.Repeat("v", 100) + string(rune('a'+len(acked)%26)))
			v = append(v, []byte(time.Now().Format(time.RFC3339Nano))...)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			acked = append(acked, string(v))
		}
	}
	produce(200)

	// Slow the destination's writes so that the copy is seen in progress.
	ffs.SetDelay(func(op vfs.Op, path string) {
		if op == vfs.OpWrite && strings.HasPrefix(path, dest+"/") {
			time.Sleep(5 * time.Millisecond)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		produce(300)
	}()
	rc := b.raw(t)
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	req.Version = 2
	req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dest, Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: "move", Partitions: []int32{0}}}}}
	if code := rc.do(req).(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AlterReplicaLogDirs: %v", kerr.ErrorForCode(code))
	}
	sawFuture := false
	waitFor(t, "the future replica under the destination", 30*time.Second, func() bool {
		_, parts := describeDirs(t, rc)
		future, ok := parts[dest]["move-0"]
		if ok && future {
			if cur, ok := parts[src]["move-0"]; !ok || cur {
				t.Fatalf("while copying, the current replica is not listed in %s: %v", src, parts)
			}
			sawFuture = true
		}
		return sawFuture
	})
	ffs.SetDelay(nil)
	waitFor(t, "the move to finish", 60*time.Second, func() bool {
		_, parts := describeDirs(t, rc)
		future, inDest := parts[dest]["move-0"]
		_, inSrc := parts[src]["move-0"]
		return inDest && !future && !inSrc
	})
	<-done
	produce(50)
	if p := b.srv.parts.lookup("move", 0); p.dir.dir != dest || !exists(vfs.Default, filepath.Join(dest, "move-0")) {
		t.Fatalf("replica in %s after the move", p.dir.dir)
	}
	waitFor(t, "the old directory removed", 10*time.Second, func() bool { return !exists(vfs.Default, filepath.Join(src, "move-0")) })

	readBack := func() {
		t.Helper()
		cons := b.client(kgo.ConsumeTopics("move"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []string
		for len(got) < len(acked) {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		cons.Close()
		if len(got) != len(acked) {
			t.Fatalf("read back %d records, acknowledged %d", len(got), len(acked))
		}
		for i := range got {
			if got[i] != acked[i] {
				t.Fatalf("record %d: %q, acknowledged %q", i, got[i], acked[i])
			}
		}
	}
	readBack()
	b = b.restart()
	cl = b.client(kgo.DefaultProduceTopic("move"))
	readBack()
}

// TestJBODDirOfflineAtStartup: a log dir that cannot be used at start-up
// (here a file where the dir was) starts offline; the broker serves the
// other dir, and the replica whose log was in the missing dir answers
// KAFKA_STORAGE_ERROR instead of starting over with an empty log
// elsewhere. With the dir back, a restart finds its records again.
func TestJBODDirOfflineAtStartup(t *testing.T) {
	t.Parallel()
	b, d1, d2 := twoDirBroker(t, nil)
	createTopic(t, b, "boot", 2)
	waitFor(t, "the logs open", 10*time.Second, func() bool {
		return b.srv.parts.lookup("boot", 0) != nil && b.srv.parts.lookup("boot", 1) != nil
	})
	sick, well := int32(0), int32(1)
	if b.srv.parts.lookup("boot", 0).dir.dir != d2 {
		sick, well = 1, 0
	}
	rc := b.raw(t)
	produce := func(rc *rawConn, p int32) int16 {
		return rc.do(produceReq("boot", p, 1, batch(-1, -1, -1, 1, []byte("z")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	for _, p := range []int32{sick, well} {
		if code := produce(rc, p); code != 0 {
			t.Fatalf("produce boot-%d: %v", p, kerr.ErrorForCode(code))
		}
	}
	b.stop()
	if err := os.Rename(d2, d2+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := b.cfg
	cfg.Socket.Listeners = append([]Listener(nil), b.srv.cfg.Socket.Listeners...)
	cfg.Socket.AdvertisedListeners = append([]Listener(nil), b.srv.cfg.Socket.AdvertisedListeners...)
	b = startBrokerConfig(t, cfg)
	rc = b.raw(t)
	if code := produce(rc, sick); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the replica of the missing dir: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	if code := produce(rc, well); code != 0 {
		t.Fatalf("produce to the healthy dir: %v", kerr.ErrorForCode(code))
	}
	if codes, _ := describeDirs(t, rc); codes[d1] != 0 || codes[d2] != kerr.KafkaStorageError.Code {
		t.Fatalf("DescribeLogDirs: %v", codes)
	}
	for _, name := range []string{partitionDir("boot", sick)} {
		if exists(vfs.Default, filepath.Join(d1, name)) {
			t.Fatalf("%s created afresh in %s", name, d1)
		}
	}
	b.stop()
	os.Remove(d2)
	if err := os.Rename(d2+".away", d2); err != nil {
		t.Fatal(err)
	}
	b = startBrokerConfig(t, cfg)
	p, err := b.srv.parts.get("boot", sick)
	if err != nil || p.log.LogEndOffset() != 1 || p.dir.dir != d2 {
		t.Fatalf("boot-%d after the dir came back: %v", sick, err)
	}
}

// TestAlterReplicaLogDirsShutdown: a broker stopping while a move copies
// (on a slowed destination disk) pauses it, stops promptly, and keeps
// the future directory; after the restart the move resumes
// (DescribeLogDirs shows the future replica under the destination) and
// completes: the replica in the destination with every record, no
// future directory and no old directory left.
func TestAlterReplicaLogDirsShutdown(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	b, d1, d2 := twoDirBroker(t, ffs)
	createTopic(t, b, "stall", 1)
	waitFor(t, "the log opens", 10*time.Second, func() bool { return b.srv.parts.lookup("stall", 0) != nil })
	src := b.srv.parts.lookup("stall", 0).dir.dir
	dest := map[string]string{d1: d2, d2: d1}[src]
	rc := b.raw(t)
	for range 50 {
		if p := rc.do(produceReq("stall", 0, 1, batch(-1, -1, -1, 5, []byte("s")))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	slow := func(op vfs.Op, path string) {
		if op == vfs.OpWrite && strings.Contains(path, futureSuffix) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	ffs.SetDelay(slow)
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dest, Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: "stall", Partitions: []int32{0}}}}}
	if code := rc.do(req).(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AlterReplicaLogDirs: %v", kerr.ErrorForCode(code))
	}
	waitFor(t, "the move copying", 10*time.Second, func() bool {
		fs := b.srv.parts.futureReplicas()
		return len(fs) == 1 && fs[0].log.Load() != nil
	})
	start := time.Now()
	b.stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stopping during a move took %v", d)
	}
	if m, _ := filepath.Glob(filepath.Join(dest, "stall-0.*"+futureSuffix)); len(m) != 1 {
		t.Fatalf("future directories after the stop: %v, want one", m)
	}
	b = b.restart()
	rc = b.raw(t)
	waitFor(t, "the resumed future replica under the destination", 10*time.Second, func() bool {
		_, parts := describeDirs(t, rc)
		return parts[dest]["stall-0"]
	})
	ffs.SetDelay(nil)
	waitFor(t, "the resumed move to finish", 30*time.Second, func() bool {
		p := b.srv.parts.lookup("stall", 0)
		return p != nil && p.dir.dir == dest && len(b.srv.parts.futureReplicas()) == 0
	})
	p, err := b.srv.parts.get("stall", 0)
	if err != nil || p.log.LogEndOffset() != 250 {
		t.Fatalf("after the resumed move: %v, log end %d", err, p.log.LogEndOffset())
	}
	if m, _ := filepath.Glob(filepath.Join(dest, "*"+futureSuffix)); len(m) != 0 {
		t.Fatalf("future directories left: %v", m)
	}
	waitFor(t, "the old directory removed", 10*time.Second, func() bool { return !exists(vfs.Default, filepath.Join(src, "stall-0")) })
	b = b.restart()
	if p, err := b.srv.parts.get("stall", 0); err != nil || p.dir.dir != dest || p.log.LogEndOffset() != 250 {
		t.Fatalf("after another restart: %v", err)
	}
}

// TestAlterReplicaLogDirsCrashMidCopy: the disk dies (its later writes
// lost, the one in flight torn) while a move copies a replica into its
// future dir, and the broker stops without a shutdown. Started again on
// the same dirs, it resumes the copy from what reached the future dir,
// finishes the move, and the replica holds every record.
func TestAlterReplicaLogDirsCrashMidCopy(t *testing.T) {
	t.Parallel()
	crashMove(t, func(b *testBroker, ffs *vfs.FaultFS, move func() int16) {
		ffs.SetDelay(func(op vfs.Op, path string) {
			if op == vfs.OpWrite && strings.Contains(path, futureSuffix) {
				time.Sleep(20 * time.Millisecond)
			}
		})
		if code := move(); code != 0 {
			t.Fatalf("AlterReplicaLogDirs: %v", kerr.ErrorForCode(code))
		}
		waitFor(t, "the move copying", 10*time.Second, func() bool {
			fs := b.srv.parts.futureReplicas()
			return len(fs) == 1 && fs[0].log.Load() != nil && fs[0].log.Load().LogEndOffset() > 0
		})
		copied := b.srv.parts.futureReplicas()[0].log.Load().LogEndOffset()
		ffs.CrashAfter(0, true)
		t.Logf("crashing with %d of 250 records copied", copied)
	}, false)
}

// TestAlterReplicaLogDirsCrashSweep: the disk dies after n more writes,
// syncs, renames or removals from the moment the move is asked for (the
// whole move takes 141 here), for n reaching from the request itself
// through the copy and, every third one, the swap and the old dir's
// removal (the last 40 or so). Every time the broker starts again on the
// same dirs, the move (asked again, as an operator would when its answer
// was lost) finishes, and the replica holds every record.
func TestAlterReplicaLogDirsCrashSweep(t *testing.T) {
	t.Parallel()
	ns := []int64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 80}
	for n := int64(100); n <= 145; n += 3 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			crashMove(t, func(b *testBroker, ffs *vfs.FaultFS, move func() int16) {
				base := ffs.Mutations()
				ffs.CrashAfter(n, true)
				code := move()
				waitFor(t, "the move to end or the disk to die", 10*time.Second, func() bool {
					return ffs.Mutations() > base+n || code == 0 && len(b.srv.parts.futureReplicas()) == 0
				})
				t.Logf("AlterReplicaLogDirs answered %v; %d mutations", kerr.ErrorForCode(code), ffs.Mutations()-base)
				if n == 0 && code != kerr.KafkaStorageError.Code {
					// The future log is created before the answer, as Kafka's.
					t.Errorf("AlterReplicaLogDirs on a dead destination disk answered %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
				}
			}, true)
		})
	}
}

// crashMove fills a one-partition topic on a two-dir broker, lets crash
// start its move to the other dir and arm the disk's crash, stops the
// broker without a shutdown, starts it again on the dirs without faults
// (asking for the move again with reissue) and checks that the move
// finishes with every record in place.
func crashMove(t *testing.T, crash func(b *testBroker, ffs *vfs.FaultFS, move func() int16), reissue bool) {
	ffs := vfs.NewFaultFS(nil)
	b, d1, d2 := twoDirBroker(t, ffs)
	createTopic(t, b, "crashmove", 1)
	waitFor(t, "the log opens", 10*time.Second, func() bool { return b.srv.parts.lookup("crashmove", 0) != nil })
	src := b.srv.parts.lookup("crashmove", 0).dir.dir
	dest := map[string]string{d1: d2, d2: d1}[src]
	// 50 batches of five 16 KiB records: a move copies 1 MiB a round,
	// so a crash can come with some of it copied.
	value := func(i int) string { return fmt.Sprintf("%d:%s", i, strings.Repeat("v", 16<<10)) }
	rc := b.raw(t)
	for i := range 50 {
		if p := rc.do(produceReq("crashmove", 0, 1, batch(-1, -1, -1, 5, []byte(value(i))))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	move := func(rc *rawConn) int16 {
		req := kmsg.NewPtrAlterReplicaLogDirsRequest()
		req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dest, Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: "crashmove", Partitions: []int32{0}}}}}
		return rc.do(req).(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode
	}
	crash(b, ffs, func() int16 { return move(rc) })
	start := time.Now()
	b.crashQuiet()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stopping on a dead disk during a move took %v", d)
	}
	m, _ := filepath.Glob(filepath.Join(dest, "crashmove-0*"))
	t.Logf("after the crash, under the destination: %v", m)

	cfg := b.cfg
	cfg.Log.FS = nil
	cfg.Socket.Listeners = append([]Listener(nil), b.srv.cfg.Socket.Listeners...)
	cfg.Socket.AdvertisedListeners = append([]Listener(nil), b.srv.cfg.Socket.AdvertisedListeners...)
	b = startBrokerConfig(t, cfg)
	if reissue {
		rc := b.raw(t)
		waitFor(t, "the move asked again", 10*time.Second, func() bool {
			code := move(rc)
			if code != 0 && code != kerr.LeaderNotAvailable.Code && code != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("AlterReplicaLogDirs after the restart: %v", kerr.ErrorForCode(code))
			}
			return code == 0
		})
	}
	waitFor(t, "the move to finish after the crash", 30*time.Second, func() bool {
		p := b.srv.parts.lookup("crashmove", 0)
		return p != nil && p.dir.dir == dest && len(b.srv.parts.futureReplicas()) == 0
	})
	if m, _ := filepath.Glob(filepath.Join(dest, "*"+futureSuffix)); len(m) != 0 {
		t.Fatalf("future directories left: %v", m)
	}
	waitFor(t, "the old directory removed", 10*time.Second, func() bool { return !exists(vfs.Default, filepath.Join(src, "crashmove-0")) })
	cl := b.client(kgo.ConsumeTopics("crashmove"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(8<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < 250 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got)) {
				t.Fatalf("record at offset %d, want %d", r.Offset, len(got))
			}
			got = append(got, string(r.Value))
		})
	}
	if len(got) != 250 {
		t.Fatalf("read %d records after the crash, want 250", len(got))
	}
	for i, v := range got {
		if want := value(i / 5); v != want {
			t.Fatalf("record %d is %.20q..., want %.20q...", i, v, want)
		}
	}
}
