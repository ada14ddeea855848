package broker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// freePorts reserves n loopback ports (closed again before use).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts n combined broker+controller nodes on loopback.
func startCluster(t *testing.T, n int, overrides ...string) []*testBroker {
	t.Helper()
	ports := freePorts(t, 2*n)
	var voters []string
	for i := 0; i < n; i++ {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[n+i]))
	}
	bs := make([]*testBroker, n)
	for i := 0; i < n; i++ {
		ov := append([]string{
			fmt.Sprintf("node.id=%d", i+1),
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], ports[n+i]),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"log.dirs=" + t.TempDir(),
			"broker.session.timeout.ms=4000",
			"broker.heartbeat.interval.ms=300",
			"replica.lag.time.max.ms=4000",
			"replica.fetch.wait.max.ms=200",
			"group.initial.rebalance.delay.ms=0",
			"controlled.shutdown.timeout.ms=15000",
		}, overrides...)
		cfg, err := Load("", nil, ov)
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = startBrokerConfig(t, cfg)
	}
	waitFor(t, "every broker registered and unfenced", 30*time.Second, func() bool {
		for _, b := range bs {
			snap := b.srv.ctrl.Snapshot()
			live := 0
			for _, br := range snap.Brokers {
				if !br.Fenced {
					live++
				}
			}
			if live != n {
				return false
			}
		}
		return true
	})
	return bs
}

func seeds(bs []*testBroker) []string {
	var s []string
	for _, b := range bs {
		if b.cancel != nil {
			s = append(s, b.addr)
		}
	}
	return s
}

// partitionMeta returns a partition's leader and ISR as node n sees them.
func partitionMeta(b *testBroker, topic string, p int32) (leader int32, isr []int32) {
	t := b.srv.ctrl.Snapshot().Topic(topic)
	if t == nil || int(p) >= len(t.Partitions) {
		return -1, nil
	}
	return t.Partitions[p].Leader, t.Partitions[p].ISR
}

func TestClusterReplicationAndFailover(t *testing.T) {
	t.Parallel()
	bs := startCluster(t, 3, "min.insync.replicas=2")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cl := bs[0].client(kgo.SeedBrokers(seeds(bs)...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	// Created through whichever node kadm picks: non-controllers forward.
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "rep"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "topic on every node", 10*time.Second, func() bool {
		for _, b := range bs {
			if _, isr := partitionMeta(b, "rep", 2); len(isr) != 3 {
				return false
			}
		}
		return true
	})

	produce := func(from, to int) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for i := from; i < to; i++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
		}
	}
	produce(0, 3000)

	// Every replica has every acknowledged record.
	waitFor(t, "followers caught up", 20*time.Second, func() bool {
		for p := int32(0); p < 3; p++ {
			for _, b := range bs {
				part := b.srv.parts.lookup("rep", p)
				if part == nil || part.log.LogEndOffset() != 1000 || part.log.HighWatermark() != 1000 {
					return false
				}
			}
		}
		return true
	})

	// Stop the leader of partition 0: leadership moves to an in-sync
	// replica with a new leader epoch, and nothing acknowledged is lost.
	leader, _ := partitionMeta(bs[0], "rep", 0)
	victim := bs[leader-1]
	var alive []*testBroker
	for _, b := range bs {
		if b != victim {
			alive = append(alive, b)
		}
	}
	start := time.Now()
	victim.stop()
	waitFor(t, "new leader for partition 0", 20*time.Second, func() bool {
		l, _ := partitionMeta(alive[0], "rep", 0)
		return l >= 0 && l != leader
	})
	t.Logf("leadership moved %v after stopping node %d", time.Since(start), leader)

	produce(3000, 6000) // two in-sync replicas still satisfy min.insync.replicas=2

	consumer := alive[0].client(kgo.SeedBrokers(seeds(alive)...), kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	last := map[int32]int64{0: -1, 1: -1, 2: -1}
	for len(seen) < 6000 && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != last[r.Partition]+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, last[r.Partition])
			}
			last[r.Partition] = r.Offset
			if seen[string(r.Value)] {
				t.Fatalf("duplicate record %s", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	if len(seen) != 6000 {
		t.Fatalf("read %d of 6000 records", len(seen))
	}

	// The stopped node comes back, catches up and rejoins every ISR.
	bs[leader-1] = victim.restart()
	waitFor(t, "restarted node back in every ISR", 30*time.Second, func() bool {
		for p := int32(0); p < 3; p++ {
			if _, isr := partitionMeta(alive[0], "rep", p); len(isr) != 3 {
				return false
			}
		}
		return true
	})
	back := bs[leader-1]
	for p := int32(0); p < 3; p++ {
		part := back.srv.parts.lookup("rep", p)
		if part == nil || part.log.LogEndOffset() != 2000 {
			t.Fatalf("restarted node partition %d has %v records", p, part.log.LogEndOffset())
		}
	}
	// Preferred leader election gives partition 0 back to its first replica.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"rep": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	t0 := alive[0].srv.ctrl.Snapshot().Topic("rep").Partitions[0]
	waitFor(t, "preferred leader", 10*time.Second, func() bool {
		l, _ := partitionMeta(alive[0], "rep", 0)
		return l == t0.Replicas[0]
	})
}

func TestClusterNotEnoughReplicas(t *testing.T) {
	t.Parallel()
	bs := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(bs[0].client(kgo.SeedBrokers(seeds(bs)...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadmPtr("3")}, "strict"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "topic everywhere", 10*time.Second, func() bool {
		for _, b := range bs {
			if _, isr := partitionMeta(b, "strict", 0); len(isr) != 3 {
				return false
			}
		}
		return true
	})
	leader, _ := partitionMeta(bs[0], "strict", 0)
	var other *testBroker
	for _, b := range bs {
		if b.srv.cfg.NodeID != leader {
			other = b
		}
	}
	other.stop()
	waitFor(t, "isr shrinks", 20*time.Second, func() bool {
		_, isr := partitionMeta(bs[leader-1], "strict", 0)
		return len(isr) == 2 && !slices.Contains(isr, other.srv.cfg.NodeID)
	})
	// kgo retries NOT_ENOUGH_REPLICAS until its delivery timeout: ask the
	// leader directly.
	rc := bs[leader-1].raw(t)
	pr := rc.do(produceReq("strict", 0, -1, batch(-1, -1, -1, 1, []byte("x")))).(*kmsg.ProduceResponse)
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR below min.insync.replicas: %v", kerr.ErrorForCode(code))
	}
	// acks=1 still works.
	pr = rc.do(produceReq("strict", 0, 1, batch(-1, -1, -1, 1, []byte("x")))).(*kmsg.ProduceResponse)
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(code))
	}
}

func kadmPtr(s string) *string { return &s }

func TestClusterCrashWithGroup(t *testing.T) {
	t.Parallel()
	bs := startCluster(t, 3, "offsets.topic.replication.factor=3", "offsets.topic.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(bs[0].client(kgo.SeedBrokers(seeds(bs)...)))
	if _, err := adm.CreateTopic(ctx, 4, 3, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	p := bs[0].client(kgo.SeedBrokers(seeds(bs)...), kgo.DefaultProduceTopic("crash"))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 200)

	var mu sync.Mutex
	seen := map[string]bool{}
	consume := func(cl *kgo.Client, until int) {
		t.Helper()
		for {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n >= until || ctx.Err() != nil {
				return
			}
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seen[string(r.Value)] = true
				mu.Unlock()
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit: %v", err)
			}
		}
	}
	c1 := bs[0].client(kgo.SeedBrokers(seeds(bs)...), kgo.ConsumerGroup("crash-group"), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second))
	consume(c1, 200)

	// Crash the group's coordinator: no controlled shutdown, so the cluster
	// notices by missed heartbeats and elects new leaders from the ISR.
	fc := adm.FindGroupCoordinators(ctx, "crash-group")
	if fc["crash-group"].Err != nil {
		t.Fatal(fc["crash-group"].Err)
	}
	coord := fc["crash-group"].NodeID
	victim := bs[coord-1]
	start := time.Now()
	victim.crash()
	var alive []*testBroker
	for _, b := range bs {
		if b != victim {
			alive = append(alive, b)
		}
	}
	waitFor(t, "crashed node fenced", 30*time.Second, func() bool {
		br, ok := alive[0].srv.ctrl.Snapshot().Broker(coord)
		return ok && br.Fenced
	})
	t.Logf("crashed node %d fenced after %v", coord, time.Since(start))

	produce(200, 400)
	consume(c1, 400)
	if len(seen) != 400 {
		t.Fatalf("consumed %d of 400", len(seen))
	}
	// Committed offsets survived the coordinator's crash: a new member of
	// the group resumes where c1 committed, not from the start.
	c1.Close()
	c2 := alive[0].client(kgo.SeedBrokers(seeds(alive)...), kgo.ConsumerGroup("crash-group"), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	produce(400, 410)
	got := 0
	for got < 10 && ctx.Err() == nil {
		fs := c2.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			fmt.Sscan(string(r.Value), &i)
			if i < 400 {
				t.Fatalf("record %d re-read after a committed offset", i)
			}
			got++
		})
	}
}
