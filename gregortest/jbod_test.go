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

// TestJBODDirFailure: broker 1 has two log dirs; its second fails (EIO on
// every write through the filesystem seam). That dir goes offline, the
// broker reports its replicas there to the controller, their leadership
// moves to the other replicas and broker 1 leaves their ISRs, while it
// keeps leading and replicating the partitions of its healthy dir. acks=all
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
	dirs := c.Broker(0).LogDirs()
	var sick, well []int32
	c.WaitFor("broker 1 holding every replica", 30*time.Second, func() bool {
		_, byDir := logDirsOf(ctx, t, c, 0, topic)
		well, sick = byDir[dirs[0]], byDir[dirs[1]]
		return len(well)+len(sick) == int(parts)
	})
	if len(sick) != 3 || len(well) != 3 {
		t.Fatalf("broker 1's replicas: %v in %s, %v in %s; want 3 and 3", well, dirs[0], sick, dirs[1])
	}
	wellLed := map[int32]bool{}
	for _, p := range well {
		if l, _ := partitionState(c, 1, topic, p); l == 1 {
			wellLed[p] = true
		}
	}
	sickLed := 0
	for _, p := range sick {
		if l, _ := partitionState(c, 1, topic, p); l == 1 {
			sickLed++
		}
	}
	if sickLed == 0 {
		t.Fatalf("broker 1 leads none of the partitions of its second dir %v: nothing to hand over", sick)
	}

	kp := &keyedProducer{acked: map[string]bool{}, per: map[int32]int{}}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); kp.run(ctx, cl, topic, parts, stop) }()
	c.WaitFor("records acknowledged before the failure", 30*time.Second, func() bool { return len(kp.perPartition()) == int(parts) })

	c.DiskFaults(0).Fail(vfs.Rule{Ops: vfs.OpWrite | vfs.OpSync | vfs.OpTruncate | vfs.OpFallocate, Path: dirs[1] + "/", Err: syscall.EIO})
	c.WaitFor("the failed dir's partitions led elsewhere, without broker 1 in their ISR", 60*time.Second, func() bool {
		for _, p := range sick {
			for i := 1; i < 3; i++ {
				if l, isr := partitionState(c, i, topic, p); l <= 1 || slices.Contains(isr, 1) {
					return false
				}
			}
		}
		return true
	})
	codes, _ := logDirsOf(ctx, t, c, 0, topic)
	if codes[dirs[0]] != 0 || codes[dirs[1]] != kerr.KafkaStorageError.Code {
		t.Fatalf("broker 1's DescribeLogDirs: %v", codes)
	}
	// Metadata lists broker 1 among the offline replicas of those only.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	mresp, err := c.Broker(1).Request(ctx, mreq)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range mresp.(*kmsg.MetadataResponse).Topics[0].Partitions {
		if offline := slices.Contains(mp.OfflineReplicas, 1); offline != slices.Contains(sick, mp.Partition) {
			t.Fatalf("partition %d: offline replicas %v (in the failed dir: %v)", mp.Partition, mp.OfflineReplicas, slices.Contains(sick, mp.Partition))
		}
	}
	// The healthy dir's partitions: broker 1 still leads those it led and
	// stays in every ISR.
	for _, p := range well {
		l, isr := partitionState(c, 1, topic, p)
		if wellLed[p] && l != 1 || !slices.Contains(isr, 1) {
			t.Fatalf("partition %d of the healthy dir: leader %d isr %v (broker 1 led it: %v)", p, l, isr, wellLed[p])
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
		if _, isr := partitionState(c, 1, topic, p); !slices.Contains(isr, 1) {
			t.Fatalf("broker 1 left the ISR of partition %d of its healthy dir: %v", p, isr)
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
	t.Logf("%d records acknowledged and read back; %d produce errors; broker 1 led %d of its failed dir's partitions", want, kp.errs, sickLed)
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
	c.WaitFor("elsewhere created", 30*time.Second, func() bool { l, _ := partitionState(c, 0, "elsewhere", 0); return l > 0 })
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
