package gregortest_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// gapTracker records the longest time between two events (acks, or
// consumed records) while it is armed.
type gapTracker struct {
	mu    sync.Mutex
	last  time.Time
	worst time.Duration
}

func (g *gapTracker) tick() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if !g.last.IsZero() && now.Sub(g.last) > g.worst {
		g.worst = now.Sub(g.last)
	}
	g.last = now
}

// TestGrowAndDrainUnderLoad is issue 18's cluster change under acks=all
// idempotent load (RF 3, min.insync.replicas 2): a fourth broker joins,
// a third of the partitions move onto it under a 500 kB/s follower
// throttle (measured), then broker 1 is drained (every replica it holds,
// internal topics too, moved to the others), taken out of the controller
// quorum (broker 4 voting instead), stopped and unregistered. Every
// acknowledged record reads back once, in order, at its offset, and
// neither produce acknowledgements nor consumption stop for longer than
// one leader election (asserted under 10 s; the figures are logged).
func TestGrowAndDrainUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("moves partitions under load for about a minute")
	}
	t.Parallel()
	opts := []gregortest.Option{gregortest.Brokers(4), gregortest.Voters(3),
		gregortest.Override("replica.fetch.max.bytes=65536", "replica.fetch.wait.max.ms=100", "replication.quota.window.num=2")}
	if path := os.Getenv("GREGOR_GROW_LOG"); path != "" { // the brokers' log, for a failure's cause
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		opts = append(opts, gregortest.Logger(zerolog.New(f).With().Timestamp().Logger().Level(zerolog.InfoLevel)))
	}
	c := gregortest.NewCluster(t, opts...)
	phase := func(what string) { t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what) }
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Broker 4 joins later: it is stopped before anything is placed.
	c.Stop(3)
	seeds := []string{c.Broker(0).Addr(), c.Broker(1).Addr(), c.Broker(2).Addr(), c.Broker(3).Addr()}
	admCl := c.Client(kgo.SeedBrokers(seeds...))
	adm := kadm.NewClient(admCl)

	const topic, parts = "grow", 6
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := range int32(parts) {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition = p
		for i := range int32(3) {
			ra.Replicas = append(ra.Replicas, (p+i)%3+1)
		}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	if resp, err := req.RequestWith(ctx, admCl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}

	// Preload 1 MiB of incompressible records into each partition (what
	// the throttled move replicates).
	const recordSize, preload = 16 << 10, 64
	pre := c.Client(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(recordSize+1024), kgo.RequiredAcks(kgo.AllISRAcks()))
	val := make([]byte, recordSize)
	rand.Read(val)
	for p := range int32(parts) {
		var rs []*kgo.Record
		for range preload {
			rs = append(rs, &kgo.Record{Partition: p, Value: val})
		}
		if err := pre.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("preload %d: %v", p, err)
		}
	}

	// The load: idempotent acks=all records "n", round robin, paced; and
	// a consumer reading all along.
	var (
		mu       sync.Mutex
		acked    = map[int][2]int64{} // n -> partition, offset
		ackAt    = map[int]time.Time{}
		errs     []error
		ackGap   gapTracker
		readGap  gapTracker
		loadStop = make(chan struct{})
		loadDone = make(chan struct{})
		inflight sync.WaitGroup
	)
	prod := c.Client(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(1000))
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			if n%10 == 0 {
				select {
				case <-loadStop:
					return
				case <-tick.C:
				}
			}
			inflight.Add(1)
			prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(n))}, func(r *kgo.Record, err error) {
				defer inflight.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				ackGap.tick()
				acked[n] = [2]int64{int64(r.Partition), r.Offset}
				ackAt[n] = time.Now()
			})
		}
	}()
	cons := c.Client(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	readDone := make(chan struct{})
	var liveRead int
	go func() {
		defer close(readDone)
		for readCtx.Err() == nil {
			fs := cons.PollFetches(readCtx)
			if n := fs.NumRecords(); n > 0 {
				readGap.tick()
				liveRead += n
			}
		}
	}()
	c.WaitFor("load acknowledged", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 100
	})

	phase("broker 4 joins")
	// 1. Broker 4 joins.
	c.Restart(3)
	c.WaitFor("broker 4 registered", 30*time.Second, func() bool {
		resp, err := c.Broker(0).Request(ctx, kmsg.NewPtrMetadataRequest())
		return err == nil && len(resp.(*kmsg.MetadataResponse).Brokers) == 4
	})

	// 2. A third of the partitions (0 and 3, each on 1,2,3) move onto
	// broker 4 (replacing broker 3), throttled at 500 kB/s.
	const rate = 500000
	// (The cluster-wide default: the admin client's metadata may not know
	// broker 4 yet.)
	alterRetrying(t, "throttle rate", func() (kadm.AlterConfigsResponses, error) {
		return adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "follower.replication.throttled.rate", Value: kadm.StringPtr(fmt.Sprint(rate))}})
	})
	alterRetrying(t, "throttled replicas", func() (kadm.AlterConfigsResponses, error) {
		return adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "follower.replication.throttled.replicas", Value: kadm.StringPtr("0:4,3:4")}}, topic)
	})
	c.WaitFor("broker 4 to have the throttle configs", 30*time.Second, func() bool {
		b := c.Broker(3)
		return configValue(ctx, b, kmsg.ConfigResourceTypeTopic, topic, "follower.replication.throttled.replicas") == "0:4,3:4" &&
			configValue(ctx, b, kmsg.ConfigResourceTypeBroker, "4", "follower.replication.throttled.rate") == fmt.Sprint(rate)
	})
	var ar kadm.AlterPartitionAssignmentsReq
	ar.Assign(topic, 0, []int32{1, 2, 4})
	ar.Assign(topic, 3, []int32{1, 2, 4})
	if res, err := adm.AlterPartitionAssignments(ctx, ar); err != nil || res.Error() != nil {
		t.Fatalf("move onto broker 4: %v %v", err, res.Error())
	}
	phase("move onto broker 4")
	moveStart := time.Now()
	var t1, t2 time.Time
	var o1, o2 int64
	c.WaitFor("broker 4 to catch up on partitions 0 and 3", 2*time.Minute, func() bool {
		e0, _, ok0 := c.Broker(3).LogOffsets(topic, 0)
		e3, _, ok3 := c.Broker(3).LogOffsets(topic, 3)
		pre := min(e0, preload) + min(e3, preload) // preloaded records replicated
		now := time.Now()
		switch {
		case !ok0 || !ok3:
		case t1.IsZero() && pre >= 2*preload*3/10:
			t1, o1 = now, pre
		case !t1.IsZero() && t2.IsZero() && pre >= 2*preload*9/10:
			t2, o2 = now, pre
		}
		return !t2.IsZero() && len(ongoing(t, ctx, admCl)) == 0
	})
	moved := float64((o2-o1)*recordSize) / t2.Sub(t1).Seconds()
	t.Logf("move onto broker 4: done in %v, %.0f B/s under a %d B/s throttle (%.2f×)", time.Since(moveStart).Round(time.Millisecond), moved, rate, moved/rate)
	if moved > rate*1.2 {
		t.Errorf("replicated at %.0f B/s, above the %d B/s throttle by more than 20%%", moved, rate)
	}
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "follower.replication.throttled.rate"}}); err != nil {
		t.Fatal(err)
	}

	// 3. Drain broker 1: every replica it holds, of every topic, goes to a
	// broker of 2, 3, 4 that the partition lacks.
	drain := func() int {
		// A broker's metadata may trail the controller's for a moment
		// after the move: a partition still listed with its adding
		// replica (four of them) is read again.
		var resp *kmsg.MetadataResponse
		c.WaitFor("metadata without a move in progress", 30*time.Second, func() bool {
			var err error
			if resp, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, admCl); err != nil {
				return false
			}
			for _, mt := range resp.Topics {
				for _, p := range mt.Partitions {
					if len(p.Replicas) > 3 {
						return false
					}
				}
			}
			return true
		})
		var ar kadm.AlterPartitionAssignmentsReq
		n := 0
		for _, mt := range resp.Topics {
			for _, p := range mt.Partitions {
				i := slices.Index(p.Replicas, 1)
				if i < 0 {
					continue
				}
				next := slices.Clone(p.Replicas)
				for _, b := range []int32{4, 2, 3} {
					if !slices.Contains(next, b) {
						next[i] = b
						break
					}
				}
				if next[i] == 1 {
					t.Fatalf("%s/%d %v: no broker to move to", *mt.Topic, p.Partition, p.Replicas)
				}
				ar.Assign(*mt.Topic, p.Partition, next)
				n++
			}
		}
		if n > 0 {
			if res, err := adm.AlterPartitionAssignments(ctx, ar); err != nil || res.Error() != nil {
				t.Fatalf("drain broker 1: %v %v", err, res.Error())
			}
		}
		return n
	}
	phase("drain starts")
	drainStart := time.Now()
	n := drain()
	c.WaitFor("broker 1 drained", 2*time.Minute, func() bool {
		if len(ongoing(t, ctx, admCl)) > 0 {
			return false
		}
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, admCl)
		if err != nil {
			return false
		}
		for _, mt := range resp.Topics {
			for _, p := range mt.Partitions {
				if p.Leader == 1 || slices.Contains(p.Replicas, 1) {
					return false
				}
			}
		}
		return true
	})
	t.Logf("drained broker 1: %d replicas moved in %v", n, time.Since(drainStart).Round(time.Millisecond))
	phase("drained")

	// 4. Broker 4 votes instead of broker 1; broker 1 stops and is
	// unregistered.
	host, portS, _ := net.SplitHostPort(c.Broker(3).RaftAddr())
	port, _ := strconv.Atoi(portS)
	voterChange := func(what string, build func() kmsg.Request) {
		t.Helper()
		var code int16
		c.WaitFor(what, 60*time.Second, func() bool {
			resp, err := admCl.Request(ctx, build())
			if err != nil {
				return false
			}
			switch r := resp.(type) {
			case *kmsg.AddRaftVoterResponse:
				code = r.ErrorCode
			case *kmsg.RemoveRaftVoterResponse:
				code = r.ErrorCode
			case *kmsg.UnregisterBrokerResponse:
				code = r.ErrorCode
			}
			return code != kerr.NotController.Code && code != kerr.RequestTimedOut.Code
		})
		if code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
	}
	voterChange("add voter 4", func() kmsg.Request {
		r := kmsg.NewPtrAddRaftVoterRequest()
		r.VoterID, r.TimeoutMillis = 4, 30000
		l := kmsg.NewAddRaftVoterRequestListener()
		l.Name, l.Host, l.Port = "CONTROLLER", host, uint16(port)
		r.Listeners = append(r.Listeners, l)
		return r
	})
	voterChange("remove voter 1", func() kmsg.Request {
		r := kmsg.NewPtrRemoveRaftVoterRequest()
		r.VoterID = 1
		return r
	})
	phase("voters changed")
	c.Stop(0)
	phase("broker 1 stopped")
	voterChange("unregister broker 1", func() kmsg.Request {
		r := kmsg.NewPtrUnregisterBrokerRequest()
		r.BrokerID = 1
		return r
	})
	time.Sleep(2 * time.Second) // load goes on without broker 1

	// The end: every acknowledged record once, in order, at its offset.
	close(loadStop)
	<-loadDone
	inflight.Wait()
	stopRead()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
	}
	final := c.Client(kgo.SeedBrokers(seeds[1:]...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[int][2]int64{}
	lastN := map[int32]int{}
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	defer fcancel()
	for len(seen) < len(acked) && fctx.Err() == nil {
		final.PollFetches(fctx).EachRecord(func(r *kgo.Record) {
			if r.Offset < preload {
				return
			}
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("%d/%d: not a load record", r.Partition, r.Offset)
			}
			if _, dup := seen[n]; dup {
				t.Fatalf("record %d read twice", n)
			}
			if n < lastN[r.Partition] {
				t.Fatalf("partition %d: record %d after %d", r.Partition, n, lastN[r.Partition])
			}
			lastN[r.Partition] = n
			seen[n] = [2]int64{int64(r.Partition), r.Offset}
		})
	}
	missing := map[int64][]int64{} // partition -> offsets
	for n, at := range acked {
		if got, ok := seen[n]; !ok {
			missing[at[0]] = append(missing[at[0]], at[1])
			if len(missing[at[0]]) == 1 {
				t.Logf("missing record %d (%d/%d) acknowledged at %s", n, at[0], at[1], ackAt[n].Format("15:04:05.000"))
			}
		} else if got != at {
			t.Errorf("record %d acknowledged at %d/%d, read back at %d/%d", n, at[0], at[1], got[0], got[1])
		}
	}
	for p, offs := range missing {
		slices.Sort(offs)
		var logs []string
		for i := 1; i < 4; i++ {
			end, hw, ok := c.Broker(i).LogOffsets(topic, int32(p))
			l, isr, _ := c.Broker(i).Partition(topic, int32(p))
			logs = append(logs, fmt.Sprintf("broker %d: end %d hw %d (replica %v) leader %d isr %v", i+1, end, hw, ok, l, isr))
		}
		t.Errorf("partition %d: %d acknowledged records not read back, offsets %d..%d; %s", p, len(offs), offs[0], offs[len(offs)-1], strings.Join(logs, "; "))
	}
	var brokers []string
	if resp, err := c.Broker(1).Request(ctx, kmsg.NewPtrMetadataRequest()); err == nil {
		for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
			brokers = append(brokers, fmt.Sprint(b.NodeID))
		}
	}
	slices.Sort(brokers)
	if got := strings.Join(brokers, ","); got != "2,3,4" {
		t.Errorf("brokers at the end: %s, want 2,3,4", got)
	}
	ag, rg := ackGap.worst, readGap.worst
	t.Logf("%d records acknowledged and read back once, in order, at their offsets (%d read live); longest wait for an ack %v, for a consumed record %v",
		len(acked), liveRead, ag.Round(time.Millisecond), rg.Round(time.Millisecond))
	if ag > 10*time.Second || rg > 10*time.Second {
		t.Errorf("produce or consume stopped for longer than a leader election: ack gap %v, read gap %v", ag, rg)
	}
}

// alterRetrying runs an incremental config change until it succeeds,
// retrying retriable errors (NOT_CONTROLLER when Raft leadership moves
// under a loaded machine) for up to 30 s, as an operator would.
func alterRetrying(t *testing.T, what string, alter func() (kadm.AlterConfigsResponses, error)) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := alter()
		if err == nil && len(res) > 0 && res[0].Err == nil {
			return
		}
		e := err
		if e == nil && len(res) > 0 {
			e = res[0].Err
		}
		if !kerr.IsRetriable(e) || time.Now().After(end) {
			t.Fatalf("%s: %v %v", what, err, res)
		}
	}
}
