package groupcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitions is the topic's partition count; Members share it.
const (
	Partitions = 12
	Members    = 3
)

// Config is one scenario run.
type Config struct {
	Client string
	// Member builds the command of one member process. The driver adds
	// the COMPAT_MEMBER_* environment and reads its stdout and stderr.
	Member func(MemberEnv) *exec.Cmd
	// Log gets progress lines; nil means os.Stderr.
	Log io.Writer
}

type rec struct {
	m   int // member index
	gen int // member generation (0 before a restart, 1 after)
	p   int32
	off int64
	val string
	at  time.Time
}

type member struct {
	idx, gen int
	id       string
	cmd      *exec.Cmd
	done     chan struct{}
	// guarded by run.mu
	stopping bool
	reported bool
	assigned []int32
}

type pos struct {
	p   int32
	off int64
}

type run struct {
	cfg     Config
	name    string
	dir     string
	broker  *Broker
	topic   string
	group   string
	log     io.Writer
	admCl   *kgo.Client
	adm     *kadm.Client
	mu      sync.Mutex
	members []*member
	recs    []rec
}

func (r *run) logf(f string, a ...any) {
	fmt.Fprintf(r.log, "%s %s %s: %s\n", time.Now().Format("15:04:05.000"), r.cfg.Client, r.name, fmt.Sprintf(f, a...))
}

func newRun(cfg Config, name string) (*run, error) {
	r := &run{cfg: cfg, name: name, log: cfg.Log}
	if r.log == nil {
		r.log = os.Stderr
	}
	base := os.Getenv("COMPAT_WORK")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s-%s-", cfg.Client, name))
	if err != nil {
		return nil, err
	}
	r.dir = dir
	r.broker, err = StartBroker(dir, "group.initial.rebalance.delay.ms=0")
	if err != nil {
		return r, err
	}
	r.logf("broker %s, logs in %s", r.broker.Addr, dir)
	suffix := time.Now().UnixNano() % 1e9
	r.topic = fmt.Sprintf("compat-%s-%s-%d", cfg.Client, strings.ReplaceAll(name, "_", "-"), suffix)
	r.group = "g-" + r.topic
	if err := r.newAdmin(); err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := r.adm.CreateTopic(ctx, Partitions, 1, nil, r.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return r, fmt.Errorf("create topic: %w", err)
	}
	return r, nil
}

func (r *run) newAdmin() error {
	if r.admCl != nil {
		r.admCl.Close()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.Addr))
	if err != nil {
		return err
	}
	r.admCl, r.adm = cl, kadm.NewClient(cl)
	return nil
}

// finish stops everything; on success (and outside run.sh, which cleans
// its own work directory) it removes the scenario directory.
func (r *run) finish(err *error) {
	r.mu.Lock()
	ms := append([]*member(nil), r.members...)
	r.mu.Unlock()
	for _, m := range ms {
		r.kill(m)
	}
	if r.admCl != nil {
		r.admCl.Close()
	}
	if r.broker != nil {
		if e := r.broker.Stop(); e != nil && *err == nil {
			*err = e
		}
		if l := r.broker.Panicked(); l != "" && *err == nil {
			*err = fmt.Errorf("broker log has a panic: %s", l)
		}
	}
	if *err != nil {
		*err = fmt.Errorf("%w (logs: %s)", *err, r.dir)
		return
	}
	if os.Getenv("COMPAT_WORK") == "" && os.Getenv("COMPAT_KEEP_LOGS") == "" {
		_ = os.RemoveAll(r.dir)
	}
}

var (
	kcatAssignRe = regexp.MustCompile(`^% Group \S+ rebalanced \(.*\): (assigned|revoked): ?(.*)$`)
	kcatPartRe   = regexp.MustCompile(`\[(\d+)\]`)
)

func (r *run) startMember(idx, gen int) (*member, error) {
	env := MemberEnv{Bootstrap: r.broker.Addr, Group: r.group, Topic: r.topic,
		ClientID: fmt.Sprintf("gk-member-%d", idx), Session: SessionTimeout, Heartbeat: Heartbeat}
	cmd := r.cfg.Member(env)
	cmd.Env = append(cmd.Environ(), env.environ()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("member-%d-%d.log", idx, gen)))
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start member %d: %w", idx, err)
	}
	m := &member{idx: idx, gen: gen, id: env.ClientID, cmd: cmd, done: make(chan struct{})}
	r.mu.Lock()
	r.members = append(r.members, m)
	r.mu.Unlock()
	var lmu sync.Mutex
	var wg sync.WaitGroup
	read := func(rd io.Reader, tag string) {
		defer wg.Done()
		sc := bufio.NewScanner(rd)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			now := time.Now()
			lmu.Lock()
			fmt.Fprintf(lf, "%s %s %s\n", now.Format("15:04:05.000"), tag, line)
			lmu.Unlock()
			r.event(m, line, now)
		}
	}
	wg.Add(2)
	go read(stdout, "out")
	go read(stderr, "err")
	go func() {
		wg.Wait()
		err := cmd.Wait()
		lmu.Lock()
		fmt.Fprintf(lf, "%s exit: %v\n", time.Now().Format("15:04:05.000"), err)
		lmu.Unlock()
		lf.Close()
		close(m.done)
	}()
	return m, nil
}

func (r *run) event(m *member, line string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case strings.HasPrefix(line, "R "):
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			return
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return
		}
		r.recs = append(r.recs, rec{m: m.idx, gen: m.gen, p: int32(p), off: off, val: f[3], at: at})
	case line == "A" || strings.HasPrefix(line, "A "):
		var ps []int32
		for _, s := range strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "A")), ",") {
			if n, err := strconv.ParseInt(s, 10, 32); err == nil {
				ps = append(ps, int32(n))
			}
		}
		m.reported, m.assigned = true, sortParts(ps)
	default:
		// kcat's (librdkafka eager protocol) rebalance lines on stderr.
		if mm := kcatAssignRe.FindStringSubmatch(line); mm != nil {
			var ps []int32
			if mm[1] == "assigned" {
				for _, x := range kcatPartRe.FindAllStringSubmatch(mm[2], -1) {
					n, _ := strconv.ParseInt(x[1], 10, 32)
					ps = append(ps, int32(n))
				}
			}
			m.reported, m.assigned = true, sortParts(ps)
		}
	}
}

func sortParts(ps []int32) []int32 {
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func (m *member) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (r *run) kill(m *member) {
	r.mu.Lock()
	m.stopping = true
	r.mu.Unlock()
	if m.alive() {
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-m.done
}

// term sends SIGTERM (the member closes its client: leaves the group) and
// waits up to d, then kills it.
func (r *run) term(m *member, d time.Duration) error {
	r.mu.Lock()
	m.stopping = true
	r.mu.Unlock()
	if !m.alive() {
		return nil
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return nil
	case <-time.After(d):
		r.kill(m)
		return fmt.Errorf("member %d did not exit within %v of SIGTERM", m.idx, d)
	}
}

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// waitFor polls cond every 100 ms until it returns "" or d passes; on
// timeout the error carries cond's last message.
func (r *run) waitFor(what string, d time.Duration, cond func() string) error {
	deadline := time.Now().Add(d)
	last := ""
	for {
		if last = cond(); last == "" {
			return nil
		}
		if strings.HasPrefix(last, "FATAL ") {
			return fmt.Errorf("%s: %s", what, strings.TrimPrefix(last, "FATAL "))
		}
		for _, m := range r.snapshotMembers() {
			r.mu.Lock()
			stopping := m.stopping
			r.mu.Unlock()
			if !m.alive() && !stopping {
				return fmt.Errorf("%s: member %d exited (see member-%d-%d.log); %s", what, m.idx, m.idx, m.gen, last)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v: %s", what, d, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *run) snapshotMembers() []*member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*member(nil), r.members...)
}

type groupView struct {
	state    string
	byClient map[string][]int32
	dup      string
}

func (r *run) describe() (groupView, error) {
	ctx, cancel := ctxT(5 * time.Second)
	defer cancel()
	dg, err := r.adm.DescribeGroups(ctx, r.group)
	if err != nil {
		return groupView{}, err
	}
	g, ok := dg[r.group]
	if !ok {
		return groupView{}, errors.New("group missing from DescribeGroups")
	}
	if g.Err != nil {
		return groupView{}, g.Err
	}
	v := groupView{state: g.State, byClient: map[string][]int32{}}
	for _, m := range g.Members {
		var ps []int32
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == r.topic {
					ps = append(ps, t.Partitions...)
				}
			}
		}
		if _, seen := v.byClient[m.ClientID]; seen {
			v.dup = m.ClientID
		}
		v.byClient[m.ClientID] = sortParts(ps)
	}
	return v, nil
}

func fmtParts(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return "[" + strings.Join(s, ",") + "]"
}

func sameParts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitStable waits until the broker describes the group Stable with exactly
// the members ms, each holding Partitions/len(ms) partitions, disjoint and
// covering the topic, and every member that reports its assignment reports
// the same partitions as the broker. It returns the broker's view.
func (r *run) waitStable(ms []*member, d time.Duration) (map[string][]int32, error) {
	each := Partitions / len(ms)
	var view map[string][]int32
	err := r.waitFor(fmt.Sprintf("group Stable with %d members of %d partitions", len(ms), each), d, func() string {
		v, err := r.describe()
		if err != nil {
			return "describe: " + err.Error()
		}
		desc := fmt.Sprintf("state %s, members %v", v.state, v.byClient)
		if v.state != "Stable" || len(v.byClient) != len(ms) || v.dup != "" {
			return desc
		}
		owner := map[int32]string{}
		for _, m := range ms {
			ps, ok := v.byClient[m.id]
			if !ok || len(ps) != each {
				return desc
			}
			for _, p := range ps {
				if o, dup := owner[p]; dup || p < 0 || p >= Partitions {
					return fmt.Sprintf("partition %d assigned to %s and %s; %s", p, o, m.id, desc)
				}
				owner[p] = m.id
			}
			r.mu.Lock()
			rep, cl := m.reported, m.assigned
			r.mu.Unlock()
			if rep && !sameParts(cl, ps) {
				return fmt.Sprintf("%s reports %s, broker says %s", m.id, fmtParts(cl), fmtParts(ps))
			}
		}
		view = v.byClient
		return ""
	})
	return view, err
}

func (r *run) committed() (map[int32]int64, error) {
	ctx, cancel := ctxT(5 * time.Second)
	defer cancel()
	fo, err := r.adm.FetchOffsets(ctx, r.group)
	if err != nil {
		return nil, err
	}
	if err := fo.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p := int32(0); p < Partitions; p++ {
		if o, ok := fo.Lookup(r.topic, p); ok && o.Err == nil {
			out[p] = o.At
		}
	}
	return out, nil
}

// producer writes "gk-<n>" to partition n%Partitions and remembers where
// every acknowledged record landed.
type producer struct {
	cl    *kgo.Client
	mu    sync.Mutex
	acked map[string]pos
	err   error
	n     int
	stop  chan struct{}
	done  chan struct{}
}

func (r *run) newProducer() (*producer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	return &producer{cl: cl, acked: map[string]pos{}}, nil
}

func (p *producer) produce(ctx context.Context, topic string) {
	v := fmt.Sprintf("gk-%07d", p.n)
	rc := &kgo.Record{Topic: topic, Partition: int32(p.n % Partitions), Value: []byte(v)}
	p.n++
	p.cl.Produce(ctx, rc, func(rc *kgo.Record, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			if p.err == nil {
				p.err = fmt.Errorf("produce %s: %w", rc.Value, err)
			}
			return
		}
		p.acked[string(rc.Value)] = pos{rc.Partition, rc.Offset}
	})
}

// every starts producing one record per interval until halt.
func (p *producer) every(topic string, interval time.Duration) {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.produce(context.Background(), topic)
			}
		}
	}()
}

// halt stops the loop and waits for every record's acknowledgement.
func (p *producer) halt() error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if len(p.acked) != p.n {
		return fmt.Errorf("%d of %d records acknowledged", len(p.acked), p.n)
	}
	return nil
}

// burst produces perPartition records to every partition and waits for them.
func (p *producer) burst(topic string, perPartition int) error {
	for i := 0; i < perPartition*Partitions; i++ {
		p.produce(context.Background(), topic)
	}
	return p.halt()
}

func (p *producer) snapshot() map[string]pos {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]pos, len(p.acked))
	for k, v := range p.acked {
		out[k] = v
	}
	return out
}

// missing returns how many acknowledged records no member processed, with
// a few examples, and checks every processed record is one that was
// acknowledged at the position the member says it read it from.
func (r *run) missing(acked map[string]pos) (int, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(r.recs))
	for _, x := range r.recs {
		if want, ok := acked[x.val]; ok && (want.p != x.p || want.off != x.off) {
			return 0, "", fmt.Errorf("member %d read %q at %d/%d, it was written at %d/%d", x.m, x.val, x.p, x.off, want.p, want.off)
		}
		seen[x.val] = true
	}
	n := 0
	var ex []string
	for v, at := range acked {
		if !seen[v] {
			n++
			if len(ex) < 5 {
				ex = append(ex, fmt.Sprintf("%s@%d/%d", v, at.p, at.off))
			}
		}
	}
	sort.Strings(ex)
	return n, strings.Join(ex, " "), nil
}

func (r *run) unknown(acked map[string]pos) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.recs {
		if _, ok := acked[x.val]; !ok {
			return fmt.Errorf("member %d read %q at %d/%d, which was never produced", x.m, x.val, x.p, x.off)
		}
	}
	return nil
}

func (r *run) waitAllProcessed(p *producer, d time.Duration) error {
	acked := p.snapshot()
	var ferr error
	err := r.waitFor(fmt.Sprintf("all %d produced records processed", len(acked)), d, func() string {
		n, ex, err := r.missing(acked)
		if err != nil {
			ferr = err
			return ""
		}
		if n > 0 {
			return fmt.Sprintf("%d never processed, e.g. %s", n, ex)
		}
		return ""
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return r.unknown(acked)
}

func (r *run) waitCommitted(what string, d time.Duration, ok func(p int32, c int64) bool) (map[int32]int64, error) {
	var last map[int32]int64
	err := r.waitFor(what, d, func() string {
		c, err := r.committed()
		if err != nil {
			return "fetch offsets: " + err.Error()
		}
		last = c
		for p := int32(0); p < Partitions; p++ {
			o, has := c[p]
			if !has || !ok(p, o) {
				return fmt.Sprintf("committed %v", c)
			}
		}
		return ""
	})
	return last, err
}

func memberIDs(ms []*member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}
