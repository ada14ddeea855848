package gregortest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// etlTopics are the topics whose every partition must be fully in sync
// again before the next kill (a second kill while a replica catches up
// would leave one replica, below min.insync.replicas).
var etlTopics = []string{"etl-in", "etl-out", "__transaction_state", "__consumer_offsets"}

// waitAllInSync waits until every running broker sees every partition of
// etlTopics led and with all three replicas in sync.
func waitAllInSync(t *testing.T, c *gregortest.Cluster) {
	t.Helper()
	c.WaitFor("every partition in sync", 120*time.Second, func() bool {
		for i := 0; i < c.Len(); i++ {
			b := c.Broker(i)
			if !b.Running() {
				return false
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			req := kmsg.NewPtrMetadataRequest()
			for _, topic := range etlTopics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, rt)
			}
			resp, err := b.Request(ctx, req)
			cancel()
			if err != nil {
				return false
			}
			topics := resp.(*kmsg.MetadataResponse).Topics
			if len(topics) != len(etlTopics) {
				return false
			}
			for _, tp := range topics {
				if tp.ErrorCode != 0 || len(tp.Partitions) == 0 {
					return false
				}
				for _, p := range tp.Partitions {
					if p.ErrorCode != 0 || p.Leader <= 0 || len(p.ISR) != 3 {
						return false
					}
				}
			}
		}
		return true
	})
}

// etlOutput reads etl-out with a consumer of the given isolation level
// and counts each key ("partition/offset" of the input record it came
// from).
type etlOutput struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
}

func (o *etlOutput) add(r *kgo.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts[string(r.Key)]++
	o.total++
}

func (o *etlOutput) distinct() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.counts)
}

// duplicates returns the keys seen more than once.
func (o *etlOutput) duplicates() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var d []string
	for k, n := range o.counts {
		if n > 1 {
			d = append(d, fmt.Sprintf("%s×%d", k, n))
		}
	}
	return d
}

// readOutput consumes etl-out from the start into o until ctx ends.
func readOutput(ctx context.Context, cl *kgo.Client, o *etlOutput) {
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(o.add)
	}
}

// TestTxnETLExactlyOnceUnderKills: two members of a franz-go
// GroupTransactSession consume etl-in (2 partitions, RF 3), write each
// record to etl-out (1 partition, RF 3) keyed by its input partition and
// offset, and commit the consumed offsets in the same transaction, while
// input keeps arriving and, five times each, the leader of etl-out and
// the transaction coordinator of member etl-a's transactional id are
// killed (no controlled shutdown) and restarted. Then: every input record
// is in etl-out exactly once for read_committed readers (a live one that
// read through the kills and a fresh one), none of them ever saw a
// duplicate (an aborted attempt's record), and the group's committed
// offsets are the input's end offsets.
//
// A member can be fenced after a coordinator kill: the coordinator
// that takes over knows the producer's current epoch only from
// __transaction_state, and a retried InitProducerId or EndTxn of an epoch
// the old coordinator bumped but the client never learned answers
// PRODUCER_FENCED (Kafka keeps no lastProducerEpoch across coordinator
// moves either). The member is then restarted, as an application would.
// So is a member whose End failed: kgo documents End's errors as not
// retryable, and the outcome of a commit whose EndTxn went unanswered is
// unknown (the killed coordinator may have written PrepareCommit); a
// retried abort returns without asking the coordinator and rewinds the
// session to its last known commit, so a member that went on would redo
// a transaction that did commit. A restarted member rejoins the group and
// reads the committed offsets, which settle once the coordinator ends
// the transaction.
//
// It takes two to three minutes under -race (skipped with -short).
func TestTxnETLExactlyOnceUnderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills brokers ten times (two to three minutes)")
	}
	t.Parallel()
	start := time.Now()
	opts := []gregortest.Option{gregortest.Brokers(3), gregortest.Override(txnClusterConfig...)}
	if path := os.Getenv("GREGOR_ETL_LOG"); path != "" { // the brokers' log, for a failure's cause
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() }) // after the cluster's (registered later, run first)
		opts = append(opts, gregortest.Logger(zerolog.New(f).With().Timestamp().Logger().Level(zerolog.InfoLevel)))
	}
	c := gregortest.NewCluster(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	mir := "2"
	cfg := map[string]*string{"min.insync.replicas": &mir}
	if _, err := adm.CreateTopic(ctx, 2, 3, cfg, "etl-in"); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) { // a retried forward
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 3, cfg, "etl-out"); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) { // a retried forward
		t.Fatal(err)
	}
	waitLeader(t, c, "etl-out", 3, -1)

	// Input: idempotent acks=all, paced at ~50 records/s until the kills
	// are done. Which records made it is read from the log at the end.
	var stopInput atomic.Bool
	inputDone := make(chan struct{})
	producer := c.Client(kgo.DefaultProduceTopic("etl-in"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	go func() {
		defer close(inputDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; !stopInput.Load() && ctx.Err() == nil; i++ {
			<-tick.C
			producer.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "in-%d", i)}, nil)
		}
		_ = producer.Flush(ctx)
	}()

	// The ETL members. A member whose producer was fenced
	// (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING:
	// fatal to a kgo transactional client) is restarted with a new
	// session under the same transactional id, as an application would
	// restart a fenced instance: its InitProducerId bumps the epoch and the
	// coordinator aborts whatever the old instance left open.
	var (
		membersCtx, stopMembers = context.WithCancel(ctx)
		members                 sync.WaitGroup
		commits, aborts         atomic.Int64
		endErrs, restarts       atomic.Int64
		lastEndErr, lastFatal   atomic.Value
	)
	defer stopMembers()
	newSession := func(id string) *kgo.GroupTransactSession {
		sess, err := kgo.NewGroupTransactSession(append(c.ClientOpts(),
			kgo.SeedBrokers(c.Addrs()...),
			kgo.TransactionalID(id),
			kgo.ConsumerGroup("etl"),
			kgo.ConsumeTopics("etl-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic("etl-out"),
			kgo.TransactionTimeout(20*time.Second),
		)...)
		if err != nil {
			t.Errorf("%s: new session: %v", id, err)
			return nil
		}
		return sess
	}
	// run drives one session until membersCtx ends (nil) or its producer
	// is fenced (the error).
	run := func(id string, sess *kgo.GroupTransactSession) error {
		for membersCtx.Err() == nil {
			pctx, pcancel := context.WithTimeout(membersCtx, 500*time.Millisecond)
			fs := sess.PollFetches(pctx)
			pcancel()
			if membersCtx.Err() != nil {
				return nil
			}
			if err := sess.Begin(); err != nil {
				// A fenced producer, or one whose producer id
				// could not be loaded (kgo keeps that as fatal,
				// e.g. "unknown broker" when the coordinator
				// FindCoordinator named is missing from the
				// metadata of a broker that had not yet seen it
				// come back): restart the member.
				return fmt.Errorf("begin: %w", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				key := fmt.Appendf(nil, "%d/%d", r.Partition, r.Offset)
				sess.Produce(membersCtx, &kgo.Record{Key: key, Value: r.Value}, nil)
			})
			committed, err := sess.End(membersCtx, kgo.TryCommit)
			switch {
			case err != nil:
				if membersCtx.Err() != nil {
					return nil
				}
				// Not retryable (kgo's End): the commit may or
				// may not have happened; restart the member.
				endErrs.Add(1)
				lastEndErr.Store(fmt.Sprintf("%s: %v", id, err))
				return err
			case committed:
				commits.Add(1)
			default:
				aborts.Add(1)
			}
		}
		return nil
	}
	for _, id := range []string{"etl-a", "etl-b"} {
		sess := newSession(id)
		if sess == nil {
			t.FailNow()
		}
		members.Add(1)
		go func() {
			defer members.Done()
			for sess != nil {
				err := run(id, sess)
				sess.Close()
				if err == nil {
					return
				}
				restarts.Add(1)
				lastFatal.Store(fmt.Sprintf("%s: %v", id, err))
				t.Logf("%s: %v, restarting the member", id, err)
				sess = newSession(id)
			}
		}()
	}

	// A read_committed reader that reads through the kills.
	live := &etlOutput{counts: map[string]int{}}
	liveCl := c.Client(kgo.ConsumeTopics("etl-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	liveDone := make(chan struct{})
	go func() {
		defer close(liveDone)
		readOutput(liveCtx, liveCl, live)
	}()

	c.WaitFor("the ETL's first output", 60*time.Second, func() bool { return live.distinct() > 0 })
	admin := c.Client()
	const rounds = 5
	// kill kills broker i, waits until moved reports that its role went
	// to another broker and the ETL made progress without it, then
	// restarts it and waits until every replica is in sync again.
	kill := func(what string, i int, moved func() bool) {
		before := live.distinct()
		c.Kill(i)
		c.WaitFor(what+" moving off the killed broker", 60*time.Second, moved)
		c.WaitFor("ETL progress after killing the "+what, 60*time.Second, func() bool { return live.distinct() > before })
		c.Restart(i)
		waitAllInSync(t, c)
		t.Logf("killed %s (broker %d) at %v: %d records out", what, i+1, time.Since(start).Round(time.Millisecond), live.distinct())
	}
	for round := 0; round < rounds; round++ {
		leader := waitLeader(t, c, "etl-out", 3, -1)
		kill("etl-out leader", leader, func() bool {
			return waitLeader(t, c, "etl-out", 2, int32(leader+1)) != leader
		})
		coord := coordinatorOf(t, ctx, admin, "etl-a", 1)
		kill("etl-a transaction coordinator", coord, func() bool {
			return coordinatorOf(t, ctx, admin, "etl-a", 1) != coord
		})
	}
	stopInput.Store(true)
	<-inputDone

	// The input as it is in the log: offsets 0..end-1 of each partition.
	ends, err := adm.ListEndOffsets(ctx, "etl-in")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	endOf := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		endOf[o.Partition] = o.Offset
		for off := int64(0); off < o.Offset; off++ {
			want[fmt.Sprintf("%d/%d", o.Partition, off)] = true
		}
	})
	c.WaitFor(fmt.Sprintf("all %d input records in the output", len(want)), 90*time.Second, func() bool {
		return live.distinct() >= len(want)
	})
	stopMembers()
	members.Wait()
	stopLive()
	<-liveDone

	// A fresh read_committed reader, and a read_uncommitted one for the
	// aborted attempts' records.
	fresh := &etlOutput{counts: map[string]int{}}
	freshCl := c.Client(kgo.ConsumeTopics("etl-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	for fresh.distinct() < len(want) && fctx.Err() == nil {
		freshCl.PollFetches(fctx).EachRecord(fresh.add)
	}
	fcancel()
	// Let a late duplicate, if any, arrive.
	fctx, fcancel = context.WithTimeout(ctx, 2*time.Second)
	readOutput(fctx, freshCl, fresh)
	fcancel()
	dirty := &etlOutput{counts: map[string]int{}}
	dirtyCl := c.Client(kgo.ConsumeTopics("etl-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for quiet := 0; quiet < 2 && ctx.Err() == nil; {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		fs := dirtyCl.PollFetches(dctx)
		dcancel()
		if fs.NumRecords() == 0 {
			quiet++
		}
		fs.EachRecord(dirty.add)
	}

	for name, o := range map[string]*etlOutput{"live read_committed": live, "fresh read_committed": fresh} {
		if d := o.duplicates(); len(d) > 0 {
			t.Errorf("%s reader saw %d keys more than once (aborted or duplicated records), e.g. %v", name, len(d), d[:min(len(d), 5)])
		}
		var missing []string
		for k := range want {
			if o.counts[k] == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s reader lacks %d of %d input records, e.g. %v", name, len(missing), len(want), missing[:min(len(missing), 5)])
		}
		for k := range o.counts {
			if !want[k] {
				t.Errorf("%s reader saw %s, not an input record", name, k)
				break
			}
		}
	}

	// The group's committed offsets are the input's ends.
	offs, err := adm.FetchOffsets(ctx, "etl")
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range endOf {
		o, ok := offs.Lookup("etl-in", p)
		if !ok || o.Err != nil || o.At != end {
			t.Errorf("group etl committed etl-in/%d at %+v, want %d", p, o, end)
		}
	}
	var last, fatal string
	if v, ok := lastEndErr.Load().(string); ok {
		last = v
	}
	if v, ok := lastFatal.Load().(string); ok {
		fatal = v
	}
	t.Logf("%d kills, %d input records, %d committed / %d aborted transactions, %d End errors (last: %q), %d member restarts (last: %q), read_uncommitted saw %d records (%d aborted), took %v",
		2*rounds, len(want), commits.Load(), aborts.Load(), endErrs.Load(), last, restarts.Load(), fatal, dirty.total, dirty.total-fresh.total, time.Since(start).Round(time.Millisecond))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
}
