package coordinator

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// live counts the timers not yet fired or stopped.
func (c *fakeClock) live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// fireNext fires the earliest live timer due by target, moving the clock
// to it; false if none.
func (c *fakeClock) fireNext(target time.Time) bool {
	c.mu.Lock()
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t.stopped })
	slices.SortStableFunc(c.timers, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	if len(c.timers) == 0 || c.timers[0].at.After(target) {
		c.now = target
		c.mu.Unlock()
		return false
	}
	t := c.timers[0]
	c.timers = c.timers[1:]
	c.now = t.at
	t.stopped = true
	c.mu.Unlock()
	t.f()
	return true
}

// memLog is an in-memory __consumer_offsets partition.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
	fail    error
}

func (l *memLog) Append(b []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return -1, l.fail
	}
	b = slices.Clone(b)
	binary.BigEndian.PutUint64(b, uint64(l.next))
	base := l.next
	l.next += int64(binary.BigEndian.Uint32(b[23:])) + 1
	l.batches = append(l.batches, b)
	return base, nil
}

func (l *memLog) ReadAll(fn func([]byte) error) error {
	l.mu.Lock()
	all := slices.Concat(l.batches...)
	l.mu.Unlock()
	return fn(all)
}

// harness is a coordinator with every partition on one memLog-per-partition
// and a fake clock.
type harness struct {
	t     *testing.T
	c     *Coordinator
	clock *fakeClock
	logs  map[int32]*memLog
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), logs: map[int32]*memLog{}}
	h.start(mod)
	return h
}

func (h *harness) start(mod func(*Config)) {
	cfg := DefaultConfig()
	cfg.Partitions = 4
	cfg.Clock = h.clock
	cfg.InitialRebalanceDelay = 0
	if mod != nil {
		mod(&cfg)
	}
	h.c = New(cfg)
	for p := int32(0); p < cfg.Partitions; p++ {
		if h.logs[p] == nil {
			h.logs[p] = &memLog{}
		}
		h.c.Load(p, h.logs[p])
	}
	h.t.Cleanup(h.c.Close)
}

// restart replaces the coordinator with a new one reading the same logs.
func (h *harness) restart(mod func(*Config)) {
	h.c.Close()
	h.start(mod)
}

// sync waits until every shard has run everything posted so far.
func (h *harness) sync() {
	for _, sh := range h.c.allShards() {
		if err := sh.call(context.Background(), func() {}); err != nil && !errors.Is(err, ErrClosed) {
			h.t.Fatal(err)
		}
	}
}

// advance moves the clock by d, firing due timers in order.
func (h *harness) advance(d time.Duration) {
	h.sync()
	target := h.clock.Now().Add(d)
	for h.clock.fireNext(target) {
		h.sync()
	}
	h.sync()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type joinResult struct {
	resp *kmsg.JoinGroupResponse
	err  error
}

// joinAsync sends a JoinGroup and returns where its answer will arrive.
func (h *harness) joinAsync(group, memberID string, instance *string, version int16, meta string) <-chan joinResult {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID, req.InstanceID = group, memberID, instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 30_000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(meta)}}
	ch := make(chan joinResult, 1)
	go func() {
		resp, err := h.c.JoinGroup(ctxT(h.t), req, Client{ID: "client", Host: "/127.0.0.1"})
		ch <- joinResult{resp, err}
	}()
	// Return once the coordinator has taken the request in: answered, or
	// parked waiting for the rebalance. Otherwise a test could look at the
	// group before the goroutine above even sent the request.
	deadline := time.Now().Add(5 * time.Second)
	for memberID != "" && len(ch) == 0 && !h.parked(group, memberID) {
		if time.Now().After(deadline) {
			h.t.Fatalf("JoinGroup for %s neither answered nor parked", memberID)
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

// parked reports whether memberID has a JoinGroup waiting in group.
func (h *harness) parked(group, memberID string) bool {
	var ok bool
	for _, sh := range h.c.allShards() {
		sh.call(context.Background(), func() {
			if g := sh.groups[group]; g != nil {
				if m := g.members[memberID]; m != nil && m.joinCh != nil {
					ok = true
				}
			}
		})
	}
	return ok
}

func (h *harness) wait(ch <-chan joinResult) *kmsg.JoinGroupResponse {
	h.t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			h.t.Fatal(r.err)
		}
		return r.resp
	case <-time.After(5 * time.Second):
		h.t.Fatal("JoinGroup not answered")
		return nil
	}
}

// pendingJoin asserts a JoinGroup is still parked.
func (h *harness) pendingJoin(ch <-chan joinResult) {
	h.t.Helper()
	h.sync()
	select {
	case r := <-ch:
		h.t.Fatalf("JoinGroup answered early: %+v %v", r.resp, r.err)
	default:
	}
}

// joinMember does the v4+ two-step join and returns the member id, with
// the join's answer channel.
func (h *harness) joinMember(group string) (string, <-chan joinResult) {
	h.t.Helper()
	r := h.wait(h.joinAsync(group, "", nil, 5, "m"))
	if r.ErrorCode != 15+64 { // MEMBER_ID_REQUIRED (79)
		h.t.Fatalf("first join: code %d", r.ErrorCode)
	}
	return r.MemberID, h.joinAsync(group, r.MemberID, nil, 5, "m")
}

func (h *harness) syncAsync(group, memberID string, gen int32, assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	for m, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		resp, err := h.c.SyncGroup(ctxT(h.t), req)
		if err != nil {
			h.t.Error(err)
		}
		ch <- resp
	}()
	return ch
}

func (h *harness) waitSync(ch <-chan *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	h.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		h.t.Fatal("SyncGroup not answered")
		return nil
	}
}

func (h *harness) heartbeat(group, memberID string, gen int32) int16 {
	h.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	resp, err := h.c.Heartbeat(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.ErrorCode
}

func (h *harness) describe(group string) kmsg.DescribeGroupsResponseGroup {
	h.t.Helper()
	d, err := h.c.DescribeGroup(ctxT(h.t), group, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}
