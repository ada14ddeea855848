package gregortest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
	"gregor/storage/vfs"
)

// logDirsOf asks broker i for its log dirs: dir -> error code, and
// dir -> partitions of topic there (current replicas, not future ones).
func logDirsOf(ctx context.Context, t *testing.T, c *gregortest.Cluster, i int, topic string) (map[string]int16, map[string][]int32) {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	resp, err := c.Broker(i).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	codes, parts := map[string]int16{}, map[string][]int32{}
	for _, d := range resp.(*kmsg.DescribeLogDirsResponse).Dirs {
		codes[d.Dir] = d.ErrorCode
		for _, dt := range d.Topics {
			for _, dp := range dt.Partitions {
				if dt.Topic == topic && !dp.IsFuture {
					parts[d.Dir] = append(parts[d.Dir], dp.Partition)
				}
			}
		}
	}
	return codes, parts
}

// partitionState is a partition's leader and ISR as broker i sees them.
func partitionState(c *gregortest.Cluster, i int, topic string, p int32) (int32, []int32) {
	l, isr, ok := c.Broker(i).Partition(topic, p)
	if !ok {
		return -1, nil
	}
	return l, isr
}

// keyedProducer writes records keyed "p<partition>-<n>" to every
// partition of topic, acks=all, until stop, recording what was
// acknowledged.
type keyedProducer struct {
	mu    sync.Mutex
	acked map[string]bool
	per   map[int32]int
	errs  int
}

func (kp *keyedProducer) run(ctx context.Context, cl *kgo.Client, topic string, partitions int32, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		var wg sync.WaitGroup
		for p := range partitions {
			wg.Add(1)
			key := fmt.Sprintf("p%d-%d", p, n)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Key: []byte(key), Value: []byte(key)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				kp.mu.Lock()
				defer kp.mu.Unlock()
				if err != nil {
					kp.errs++
					return
				}
				kp.acked[key] = true
				kp.per[r.Partition]++
			})
		}
		wg.Wait()
		time.Sleep(5 * time.Millisecond)
	}
}

func (kp *keyedProducer) perPartition() map[int32]int {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	out := map[int32]int{}
	for k, v := range kp.per {
		out[k] = v
	}
	return out
}

// TestJBODDirFailure: every broker has two log dirs; one dir of a broker
// leading one of its partitions fails (EIO on every write through the
// filesystem seam). That dir goes offline, the broker reports its
// replicas there to the controller, their leadership moves to the other
// replicas and the broker leaves their ISRs, while it keeps leading and
// replicating the partitions of its healthy dir. acks=all
// produce to every partition goes on throughout, and every acknowledged
// record is read back.
func TestJBODDirFailure(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.LogDirs(2))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, parts = "jbod", int32(6)
	adm := kadm.NewClient(c.Client())
	mir := "2"
	if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": &mir}, topic); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("every partition with a full ISR", 60*time.Second, func() bool {
		for p := range parts {
			if l, isr := partitionState(c, 1, topic, p); l < 0 || len(isr) != 3 {
				return false
			}
		}
		return true
	})
	// The victim: a broker and one of its dirs holding a partition it
	// leads, best with one it leads in its other dir too.
	v, failDir, score := -1, "", -1
	var sick, well []int32
	wellLed := map[int32]bool{}
	sickLed := 0
	for i := range 3 {
		var byDir map[string][]int32
		c.WaitFor(fmt.Sprintf("broker %d holding every replica", i+1), 30*time.Second, func() bool {
			_, byDir = logDirsOf(ctx, t, c, i, topic)
			return len(byDir[c.Broker(i).LogDirs()[0]])+len(byDir[c.Broker(i).LogDirs()[1]]) == int(parts)
		})
		for d, dir := range c.Broker(i).LogDirs() {
			other := c.Broker(i).LogDirs()[1-d]
			if len(byDir[dir]) != 3 {
				t.Fatalf("broker %d's replicas by dir: %v; want 3 and 3", i+1, byDir)
			}
			led := func(ps []int32) map[int32]bool {
				m := map[int32]bool{}
				for _, p := range ps {
					if l, _ := partitionState(c, i, topic, p); l == int32(i+1) {
						m[p] = true
					}
				}
				return m
			}
			sl, wl := led(byDir[dir]), led(byDir[other])
			sc := 0
			if len(sl) > 0 {
				sc = 1
				if len(wl) > 0 {
					sc = 2
				}
			}
			if sc > score {
				v, failDir, score = i, dir, sc
				sick, well, wellLed, sickLed = byDir[dir], byDir[other], wl, len(sl)
			}
		}
	}
	if score < 1 {
		t.Fatal("no broker leads a partition: nothing to hand over")
	}
	node := int32(v + 1)

	kp := &keyedProducer{acked: map[string]bool{}, per: map[int32]int{}}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); kp.run(ctx, cl, topic, parts, stop) }()
	c.WaitFor("records acknowledged before the failure", 30*time.Second, func() bool { return len(kp.perPartition()) == int(parts) })

	failedAt := time.Now()
	c.DiskFaults(v).Fail(vfs.Rule{Ops: vfs.OpWrite | vfs.OpSync | vfs.OpTruncate | vfs.OpFallocate, Path: failDir + "/", Err: syscall.EIO})
	c.WaitFor("the failed dir's partitions led elsewhere, without the victim in their ISR", 60*time.Second, func() bool {
		for _, p := range sick {
			for i := range 3 {
				if i == v {
					continue
				}
				if l, isr := partitionState(c, i, topic, p); l < 0 || l == node || slices.Contains(isr, node) {
					return false
				}
			}
		}
		return true
	})
	moved := time.Since(failedAt)
	codes, _ := logDirsOf(ctx, t, c, v, topic)
	for _, d := range c.Broker(v).LogDirs() {
		if want := map[bool]int16{true: kerr.KafkaStorageError.Code}[d == failDir]; codes[d] != want {
			t.Fatalf("the victim's DescribeLogDirs: %v (failed %s)", codes, failDir)
		}
	}
	// Metadata lists the victim among the offline replicas of those only.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	mresp, err := c.Broker((v+1)%3).Request(ctx, mreq)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range mresp.(*kmsg.MetadataResponse).Topics[0].Partitions {
		if offline := slices.Contains(mp.OfflineReplicas, node); offline != slices.Contains(sick, mp.Partition) {
			t.Fatalf("partition %d: offline replicas %v (in the failed dir: %v)", mp.Partition, mp.OfflineReplicas, slices.Contains(sick, mp.Partition))
		}
	}
	// The healthy dir's partitions: the victim still leads those it led
	// and stays in every ISR.
	for _, p := range well {
		l, isr := partitionState(c, (v+1)%3, topic, p)
		if wellLed[p] && l != node || !slices.Contains(isr, node) {
			t.Fatalf("partition %d of the healthy dir: leader %d isr %v (broker %d led it: %v)", p, l, isr, node, wellLed[p])
		}
	}
	before := kp.perPartition()
	c.WaitFor("acks=all produce going on to every partition", 60*time.Second, func() bool {
		now := kp.perPartition()
		for p := range parts {
			if now[p] < before[p]+20 {
				return false
			}
		}
		return true
	})
	for _, p := range well {
		if _, isr := partitionState(c, (v+1)%3, topic, p); !slices.Contains(isr, node) {
			t.Fatalf("broker %d left the ISR of partition %d of its healthy dir: %v", node, p, isr)
		}
	}
	close(stop)
	<-done

	kp.mu.Lock()
	want := len(kp.acked)
	kp.mu.Unlock()
	cons := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < want {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d of %d: %v", len(got), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = true })
	}
	for k := range kp.acked {
		if !got[k] {
			t.Fatalf("acknowledged record %s not read back", k)
		}
	}
	t.Logf("%d records acknowledged and read back; %d produce errors; broker %d led %d of its failed dir's partitions and %d of its other dir's; their leadership moved and ISRs shrank %v after the failure", want, kp.errs, node, sickLed, len(wellLed), moved.Round(time.Millisecond))
}

// TestAlterReplicaLogDirsCluster moves, under acks=all produce, the
// leader's and a follower's replica of a partition to their other log
// dir: both moves finish (DescribeLogDirs lists the replicas in the new
// dirs), the ISR is full again, produce goes on and every acknowledged
// record is read back. A broker without a replica of the partition
// answers REPLICA_NOT_AVAILABLE.
func TestAlterReplicaLogDirsCluster(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.LogDirs(2))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "moving"
	createTopic(t, c, topic)
	leader := waitLeader(t, c, topic, 3, -1)
	follower := (leader + 1) % 3

	kp := &keyedProducer{acked: map[string]bool{}, per: map[int32]int{}}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); kp.run(ctx, cl, topic, 1, stop) }()
	c.WaitFor("records acknowledged before the moves", 30*time.Second, func() bool { return kp.perPartition()[0] >= 50 })

	dest := map[int]string{}
	for _, i := range []int{leader, follower} {
		_, byDir := logDirsOf(ctx, t, c, i, topic)
		dirs := c.Broker(i).LogDirs()
		dest[i] = dirs[1]
		if len(byDir[dirs[1]]) > 0 {
			dest[i] = dirs[0]
		}
		req := kmsg.NewPtrAlterReplicaLogDirsRequest()
		req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dest[i], Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: topic, Partitions: []int32{0}}}}}
		resp, err := c.Broker(i).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("AlterReplicaLogDirs on broker %d: %v", i+1, kerr.ErrorForCode(code))
		}
	}
	c.WaitFor("both replicas in their new dirs", 60*time.Second, func() bool {
		for i, d := range dest {
			if _, byDir := logDirsOf(ctx, t, c, i, topic); len(byDir[d]) != 1 {
				return false
			}
		}
		return true
	})
	before := kp.perPartition()[0]
	c.WaitFor("produce going on with a full ISR", 60*time.Second, func() bool {
		_, isr := partitionState(c, leader, topic, 0)
		return len(isr) == 3 && kp.perPartition()[0] >= before+50
	})
	close(stop)
	<-done

	// A partition with its only replica on another broker.
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, -1, -1, nil, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("elsewhere created", 30*time.Second, func() bool {
		for i := range 3 {
			if l, _ := partitionState(c, i, "elsewhere", 0); l <= 0 {
				return false
			}
		}
		return true
	})
	l, _ := partitionState(c, 0, "elsewhere", 0)
	other := (int(l-1) + 1) % 3
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: c.Broker(other).LogDirs()[1], Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: "elsewhere", Partitions: []int32{0}}}}}
	resp, err := c.Broker(other).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.ReplicaNotAvailable.Code {
		t.Fatalf("AlterReplicaLogDirs for a replica on another broker: %v", kerr.ErrorForCode(code))
	}

	kp.mu.Lock()
	want := len(kp.acked)
	kp.mu.Unlock()
	cons := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < want {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = true })
	}
	for k := range kp.acked {
		if !got[k] {
			t.Fatalf("acknowledged record %s not read back", k)
		}
	}
	t.Logf("%d records acknowledged and read back across the moves; %d produce errors", want, kp.errs)
}
