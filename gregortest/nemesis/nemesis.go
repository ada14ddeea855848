// Package nemesis is a Jepsen-style fault harness over gregortest's
// in-process cluster: workloads (acks=all idempotent producers, an acks=1
// producer, a consumer group committing offsets, a reader of the committed
// offsets) run while a seeded random schedule of faults is injected (kill
// -9 of a leader, of the active controller, of a random node; an isolated
// node; a majority/minority split; a bridge; a pause past the session
// timeout; a full disk; latency, a bandwidth limit or connection resets
// on one node's links; a rolling restart; a node's clock jumping ahead),
// each held for a random time and healed. After each heal the harness measures how long
// the nodes take to agree on the metadata again. At the end everything is
// healthy again, the whole log is read back, and Check compares the
// recorded history against it.
package nemesis

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// Config is one run.
type Config struct {
	Seed     uint64
	Duration time.Duration // how long faults are injected
	Kinds    []Kind        // the faults to pick from (default AllKinds)
	Script   []Fault       // if set, these faults in order instead of the random schedule
	Hold     [2]time.Duration
	Quiet    [2]time.Duration

	Nodes      int // brokers (default 3)
	Partitions int // of the workload topics (default 3)
	Producers  int // acks=all idempotent producers (default 3)
	Consumers  int // members of the consumer group (default 2)
	Rate       int // records per second per producer (default 50)

	ConvergeTimeout time.Duration // bound on metadata agreement after a heal (default 60s)
	DeliveryTimeout time.Duration // a produce not acknowledged by then is indeterminate (default 30s)
	DrainTimeout    time.Duration // for outstanding produces after the faults (default 60s)
	Topic           string        // the acks=all topic; the acks=1 one is Topic+"-acks1" (default "nemesis")
	Overrides       []string      // broker configuration
	HistoryFile     string        // if set, the whole history is written there
}

func (c *Config) defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Nodes, 3)
	def(&c.Partitions, 3)
	def(&c.Producers, 3)
	def(&c.Consumers, 2)
	def(&c.Rate, 50)
	if len(c.Kinds) == 0 {
		c.Kinds = AllKinds
	}
	if c.Hold[1] == 0 {
		c.Hold = [2]time.Duration{2 * time.Second, 8 * time.Second}
	}
	if c.Quiet[1] == 0 {
		c.Quiet = [2]time.Duration{time.Second, 4 * time.Second}
	}
	if c.ConvergeTimeout == 0 {
		c.ConvergeTimeout = 60 * time.Second
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = 30 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 60 * time.Second
	}
	if c.Topic == "" {
		c.Topic = "nemesis"
	}
}

// Result is a run's figures and what the checkers found.
type Result struct {
	Seed     uint64
	Faults   map[Kind]int
	Ops      map[string]int // by F and type, "produce ok"
	Converge []Convergence
	Report   Report
	Start    time.Time
	Elapsed  time.Duration
	ops      []Op
}

// Convergence is how long the nodes took, after a heal, to agree on every
// partition's leader, leader epoch and ISR and on the controller (Agree),
// and to have every replica back in the ISR (FullISR).
type Convergence struct {
	After   Kind
	Agree   time.Duration
	FullISR time.Duration
}

// Run runs the workloads and the fault schedule on a new cluster, heals
// it, reads everything back and checks the history. It fails t only if
// the harness itself breaks; the anomalies are in the Result.
func Run(t testing.TB, cfg Config) *Result {
	cfg.defaults()
	t.Logf("nemesis: seed %d, %v of faults from %v", cfg.Seed, cfg.Duration, cfg.Kinds)
	c := gregortest.NewCluster(t, gregortest.Brokers(cfg.Nodes), gregortest.Override(cfg.Overrides...), gregortest.Pausable())
	n := &nemesis{t: t, c: c, cfg: cfg, h: &History{}, res: &Result{Seed: cfg.Seed, Faults: map[Kind]int{}, Ops: map[string]int{}}}
	acks1 := cfg.Topic + "-acks1"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	mir := "2"
	for _, topic := range []string{cfg.Topic, acks1, txnTopic(cfg)} {
		if _, err := adm.CreateTopic(ctx, int32(cfg.Partitions), 3, map[string]*string{"min.insync.replicas": &mir}, topic); err != nil {
			t.Fatalf("nemesis: create %s: %v", topic, err)
		}
	}
	if _, ok := n.converge("start"); !ok {
		t.Fatalf("nemesis: the new cluster did not converge")
	}

	w := &workloads{h: n.h, addrs: c.Addrs(), clientOpts: c.ClientOpts(), cfg: cfg}
	w.start()
	n.res.Start = time.Now()
	sched := NewSchedule(cfg.Seed, cfg.Kinds, cfg.Hold, cfg.Quiet)
	deadline := time.Now().Add(cfg.Duration)
	for i := 0; ; i++ {
		var f Fault
		if cfg.Script != nil {
			if i == len(cfg.Script) {
				break
			}
			f = cfg.Script[i]
		} else {
			if !time.Now().Before(deadline) {
				break
			}
			f = sched.Next()
		}
		time.Sleep(f.Quiet) // the schedule's pacing, not synchronisation
		n.run(f)
	}

	// Healthy again, every outstanding produce done, then read it all.
	phase := time.Now()
	step := func(what string) {
		t.Logf("nemesis: %s in %v", what, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}
	n.healAll()
	step("healed")
	w.stopProducers()
	time.Sleep(2 * time.Second) // consumers read the last records
	w.stop()
	step("workloads stopped")
	for _, err := range w.errs {
		t.Errorf("nemesis: workload: %v", err)
	}
	final := Final{}
	for _, topic := range []string{cfg.Topic, acks1} {
		final[topic] = n.readAll(topic)
	}
	txnFinal := n.readCommitted(txnTopic(cfg))
	step("final reads")
	n.res.Elapsed = time.Since(n.res.Start)
	n.res.ops = n.h.Ops()
	for _, op := range n.res.ops {
		n.res.Ops[op.F+" "+op.Type]++
	}
	n.res.Report = Check(n.res.ops, final, cfg.Topic, acks1)
	var txnAnomalies []Anomaly
	n.res.Report.Txn, txnAnomalies = checkTxn(n.res.ops, txnFinal)
	n.res.Report.Anomalies = append(n.res.Report.Anomalies, txnAnomalies...)
	if cfg.HistoryFile != "" {
		if err := os.WriteFile(cfg.HistoryFile, []byte(format(n.res.ops, n.res.Start)), 0o644); err != nil {
			t.Errorf("nemesis: %v", err)
		}
	}
	return n.res
}

type nemesis struct {
	t   testing.TB
	c   *gregortest.Cluster
	cfg Config
	h   *History
	res *Result
}

// run injects one fault, holds it, heals it and waits for convergence.
func (n *nemesis) run(f Fault) {
	start := time.Now()
	detail, heal := n.inject(f)
	n.h.Add(Op{Process: "nemesis", F: "fault", Type: OK, Start: start, End: time.Now(), Detail: string(f.Kind) + " " + detail})
	n.res.Faults[f.Kind]++
	time.Sleep(f.Hold)
	start = time.Now()
	heal()
	n.h.Add(Op{Process: "nemesis", F: "heal", Type: OK, Start: start, End: time.Now(), Detail: string(f.Kind) + " " + detail})
	if cv, ok := n.converge(string(f.Kind)); ok {
		cv.After = f.Kind
		n.res.Converge = append(n.res.Converge, cv)
	}
}

// inject starts a fault and returns what it did and how to heal it.
func (n *nemesis) inject(f Fault) (string, func()) {
	nodes := n.c.Len()
	node := int(f.Pick % uint32(nodes))
	switch f.Kind {
	case KillLeader, IsolateLeader:
		p := int32(f.Pick % uint32(n.cfg.Partitions))
		if l := n.leader(p); l >= 0 {
			node = l
		}
		if f.Kind == KillLeader {
			n.c.Kill(node)
			return fmt.Sprintf("node %d (leader of %s/%d)", node+1, n.cfg.Topic, p), func() { n.c.Restart(node) }
		}
		n.c.Isolate(node)
		return fmt.Sprintf("node %d (leader of %s/%d)", node+1, n.cfg.Topic, p), func() { n.c.Heal(node) }
	case KillController:
		if m := n.metadata(); m != nil && m.ControllerID > 0 {
			node = int(m.ControllerID - 1)
		}
		n.c.Kill(node)
		return fmt.Sprintf("node %d (active controller)", node+1), func() { n.c.Restart(node) }
	case KillNode:
		n.c.Kill(node)
		return fmt.Sprintf("node %d", node+1), func() { n.c.Restart(node) }
	case IsolateNode:
		n.c.Isolate(node)
		return fmt.Sprintf("node %d", node+1), func() { n.c.Heal(node) }
	case Split, Bridge:
		// Nodes in order from node: a minority of (n-1)/2, then the rest;
		// for a bridge the first is the bridge and the rest split in two.
		order := make([]int, nodes)
		for i := range order {
			order[i] = (node + i) % nodes
		}
		var a, b []int
		if f.Kind == Split {
			a, b = order[:(nodes-1)/2], order[(nodes-1)/2:]
		} else {
			rest := order[1:]
			a, b = rest[:len(rest)/2], rest[len(rest)/2:]
		}
		for _, i := range a {
			for _, j := range b {
				n.c.Cut(i, j)
			}
		}
		desc := fmt.Sprintf("%v | %v", ids(a), ids(b))
		if f.Kind == Bridge {
			desc = fmt.Sprintf("%v | %v, bridge node %d", ids(a), ids(b), node+1)
		}
		return desc, func() {
			for _, i := range a {
				for _, j := range b {
					n.c.Mend(i, j)
				}
			}
		}
	case Pause:
		return n.pause(f)
	case DiskFull:
		n.c.DiskFaults(node).SetSpace(0)
		return fmt.Sprintf("node %d", node+1), func() { n.c.DiskFaults(node).Heal() }
	case Latency:
		return n.shape(f, LatencyOf(f))
	case Bandwidth:
		return n.shape(f, BandwidthOf(f))
	case DropConns:
		return n.dropConns(f)
	case RollingRestart:
		return n.rollingRestart(f)
	case ClockJump:
		return n.clockJump(f)
	}
	n.t.Fatalf("nemesis: unknown fault %q", f.Kind)
	return "", nil
}

func ids(is []int) []int {
	out := make([]int, len(is))
	for k, i := range is {
		out[k] = i + 1
	}
	return out
}

// healAll makes everything healthy: the network, the disks, every node
// running; then waits for convergence.
func (n *nemesis) healAll() {
	start := time.Now()
	n.c.HealNetwork()
	for i := 0; i < n.c.Len(); i++ {
		n.c.Resume(i)
		n.c.DiskFaults(i).Heal()
		if !n.c.Broker(i).Running() {
			n.c.Restart(i)
		}
	}
	n.h.Add(Op{Process: "nemesis", F: "heal", Type: OK, Start: start, End: time.Now(), Detail: "everything"})
	if cv, ok := n.converge("final"); ok {
		cv.After = "final"
		n.res.Converge = append(n.res.Converge, cv)
	}
}

// leader returns the index of a workload partition's leader as a running
// node reports it, or -1.
func (n *nemesis) leader(p int32) int {
	for i := 0; i < n.c.Len(); i++ {
		if l, _, ok := n.c.Broker(i).Partition(n.cfg.Topic, p); ok && l > 0 {
			return int(l - 1)
		}
	}
	return -1
}

// metadata returns the first running node's metadata of the workload
// topics.
func (n *nemesis) metadata() *kmsg.MetadataResponse {
	for i := 0; i < n.c.Len(); i++ {
		if m := n.metadataOf(i); m != nil {
			return m
		}
	}
	return nil
}

func (n *nemesis) metadataOf(i int) *kmsg.MetadataResponse {
	b := n.c.Broker(i)
	if !b.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, topic := range []string{n.cfg.Topic, n.cfg.Topic + "-acks1"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := b.Request(ctx, req)
	if err != nil {
		return nil
	}
	return resp.(*kmsg.MetadataResponse)
}

// view is a node's metadata in a canonical form (controller, brokers,
// every partition's leader, leader epoch and ISR), whether it names a
// leader for every partition, and whether every ISR is full.
func view(m *kmsg.MetadataResponse, nodes int) (s string, leaders, full bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "controller %d brokers %d;", m.ControllerID, len(m.Brokers))
	leaders, full = m.ControllerID > 0 && len(m.Brokers) == nodes, true
	ts := slices.Clone(m.Topics)
	slices.SortFunc(ts, func(a, b kmsg.MetadataResponseTopic) int { return strings.Compare(*a.Topic, *b.Topic) })
	for _, t := range ts {
		if t.ErrorCode != 0 {
			leaders = false
		}
		ps := slices.Clone(t.Partitions)
		slices.SortFunc(ps, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		for _, p := range ps {
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			fmt.Fprintf(&b, " %s/%d leader %d epoch %d isr %v;", *t.Topic, p.Partition, p.Leader, p.LeaderEpoch, isr)
			if p.Leader < 0 || p.ErrorCode != 0 {
				leaders = false
			}
			if len(p.ISR) < len(p.Replicas) {
				full = false
			}
		}
	}
	return b.String(), leaders, full
}

// converge waits until every node reports the same metadata with a leader
// for every partition (Agree), then until every ISR is full too (FullISR),
// each within ConvergeTimeout, and records a converge op; ok is false if
// it timed out.
func (n *nemesis) converge(after string) (Convergence, bool) {
	start := time.Now()
	var cv Convergence
	var last []string
	agreed := false
	for time.Since(start) < n.cfg.ConvergeTimeout {
		var views []string
		same, leaders, full := true, true, true
		for i := 0; i < n.c.Len(); i++ {
			m := n.metadataOf(i)
			if m == nil {
				same = false
				views = append(views, fmt.Sprintf("node %d: no metadata", i+1))
				continue
			}
			v, l, f := view(m, n.c.Len())
			views = append(views, fmt.Sprintf("node %d: %s", i+1, v))
			leaders, full = leaders && l, full && f
			if len(views) > 1 && v != strings.SplitN(views[0], ": ", 2)[1] {
				same = false
			}
		}
		last = views
		if same && leaders {
			if !agreed {
				agreed, cv.Agree = true, time.Since(start)
			}
			if full {
				cv.FullISR = time.Since(start)
				n.h.Add(Op{Process: "nemesis", F: "converge", Type: OK, Start: start, End: time.Now(),
					Detail: fmt.Sprintf("after %s: agree in %v, full ISR in %v", after, cv.Agree.Round(time.Millisecond), cv.FullISR.Round(time.Millisecond))})
				return cv, true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	what := "no agreement"
	if agreed {
		what = fmt.Sprintf("agreed in %v but the ISR was not full", cv.Agree.Round(time.Millisecond))
	}
	n.h.Add(Op{Process: "nemesis", F: "converge", Type: Fail, Start: start, End: time.Now(),
		Detail: "after " + after, Err: fmt.Sprintf("%s within %v; last views: %s", what, n.cfg.ConvergeTimeout, strings.Join(last, " | "))})
	return cv, false
}

// readAll reads every record of a topic, from the log start to the high
// watermark of each partition.
func (n *nemesis) readAll(topic string, opts ...kgo.Opt) map[int32][]Seen {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := n.c.Client()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		n.t.Fatalf("nemesis: end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			n.t.Fatalf("nemesis: end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		want[o.Partition] = o.Offset
		offs[o.Partition] = kgo.NewOffset().AtStart()
	})
	cons := n.c.Client(append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs})}, opts...)...)
	defer cons.Close()
	out := map[int32][]Seen{}
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			n.t.Fatalf("nemesis: final read of %s: %v (read up to %v of %v)", topic, ctx.Err(), next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < want[r.Partition] {
				out[r.Partition] = append(out[r.Partition], Seen{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			}
			next[r.Partition] = r.Offset + 1
		})
	}
	return out
}

// readCommitted reads every record of a transactional topic
// read_committed: a sentinel record produced to each partition first
// (outside any transaction, acks=all) ends the read there, as the last
// offsets before the high watermark may be transaction markers no
// consumer receives; the sentinels are left out.
func (n *nemesis) readCommitted(topic string) map[int32][]Seen {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := n.c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := 0; p < n.cfg.Partitions; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(p), Value: []byte(sentinel)}).FirstErr(); err != nil {
			n.t.Fatalf("nemesis: sentinel of %s/%d: %v", topic, p, err)
		}
	}
	out := n.readAll(topic, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for p, recs := range out {
		out[p] = slices.DeleteFunc(recs, func(s Seen) bool { return s.Value == sentinel })
	}
	return out
}

const sentinel = "end"

// Summary is the run's figures, one block of text.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %v\n", r.Seed, r.Elapsed.Round(time.Second))
	var fs []string
	total := 0
	for _, k := range AllKinds {
		if r.Faults[k] > 0 {
			fs = append(fs, fmt.Sprintf("%s %d", k, r.Faults[k]))
			total += r.Faults[k]
		}
	}
	fmt.Fprintf(&b, "faults: %d (%s)\n", total, strings.Join(fs, ", "))
	var ops []string
	for _, k := range sortedKeys(r.Ops) {
		ops = append(ops, fmt.Sprintf("%s %d", k, r.Ops[k]))
	}
	fmt.Fprintf(&b, "operations: %s\n", strings.Join(ops, ", "))
	rp := r.Report
	fmt.Fprintf(&b, "acks=all: %d acknowledged, %d indeterminate; acks=1: %d acknowledged, %d lost, %d duplicated (allowed); consumers saw %d records, %d commits\n",
		rp.Acked, rp.Indeterminate, rp.Acks1Acked, rp.Acks1Lost, rp.Acks1Dups, rp.Seen, rp.Commits)
	fmt.Fprintf(&b, "transactions: %d committed, %d aborted, %d unknown (%d of them applied); the read_committed consumer read %d records\n",
		rp.Txn.Committed, rp.Txn.Aborted, rp.Txn.Unknown, rp.Txn.UnknownApplied, rp.Txn.Read)
	var maxA, maxF, sumA time.Duration
	for _, cv := range r.Converge {
		maxA, maxF, sumA = max(maxA, cv.Agree), max(maxF, cv.FullISR), sumA+cv.Agree
	}
	if len(r.Converge) > 0 {
		fmt.Fprintf(&b, "convergence after %d heals: agreement mean %v max %v, full ISR max %v\n",
			len(r.Converge), (sumA / time.Duration(len(r.Converge))).Round(time.Millisecond), maxA.Round(time.Millisecond), maxF.Round(time.Millisecond))
	}
	kinds := map[string]int{}
	for _, a := range rp.Anomalies {
		kinds[a.Kind]++
	}
	fmt.Fprintf(&b, "anomalies: %d %v\n", len(rp.Anomalies), kinds)
	return b.String()
}

// Explain is each anomaly (at most max of them) with its history slice.
func (r *Result) Explain(limit int) string {
	var b strings.Builder
	for i, a := range r.Report.Anomalies {
		if i == limit {
			fmt.Fprintf(&b, "... %d more\n", len(r.Report.Anomalies)-limit)
			break
		}
		fmt.Fprintf(&b, "anomaly %s: %s (seed %d)\n%s", a.Kind, a.Detail, r.Seed, format(a.Ops, r.Start))
	}
	return b.String()
}
