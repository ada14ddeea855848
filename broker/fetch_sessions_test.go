package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessReq builds a Fetch v12 of topic "t" with the given partitions.
func sessReq(id, epoch int32, parts ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.SessionID, req.SessionEpoch = id, epoch
	if len(parts) > 0 {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = 1 << 20
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
	return req
}

// sessResp answers req with high watermark hw for every partition.
func sessResp(req *kmsg.FetchRequest, hw map[int32]int64) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LogStartOffset = hw[rp.Partition], 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func respParts(resp *kmsg.FetchResponse) []int32 {
	var out []int32
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.Partition)
		}
	}
	return out
}

// fetchVia runs req through the cache the way the handler does, answering
// with hw; it returns the response or the top-level error code.
func fetchVia(fs *fetchSessions, req *kmsg.FetchRequest, hw map[int32]int64, privileged bool) (*kmsg.FetchResponse, int16) {
	fc, code := fs.begin(req, privileged)
	if code != 0 {
		return nil, code
	}
	resp := sessResp(fc.req, hw)
	fc.finish(resp, privileged)
	return resp, 0
}

func newTestSessions(slots int) (*fetchSessions, *fakeClock) {
	clk := newFakeClock()
	return newFetchSessions(clk, LimitsConfig{FetchSessionSlots: slots, FetchSessionMinEviction: 2 * time.Minute}, zerolog.Nop()), clk
}

func TestFetchSessionLifecycle(t *testing.T) {
	fs, _ := newTestSessions(10)
	hw := map[int32]int64{0: 5, 1: 5, 2: 5}

	// Sessionless full fetch: no session.
	resp, _ := fetchVia(fs, sessReq(0, -1, 0, 1), hw, false)
	if resp.SessionID != 0 || fs.len() != 0 || len(respParts(resp)) != 2 {
		t.Fatalf("sessionless: id %d, %d sessions, parts %v", resp.SessionID, fs.len(), respParts(resp))
	}
	// New session: full response, nonzero id.
	resp, _ = fetchVia(fs, sessReq(0, 0, 0, 1), hw, false)
	id := resp.SessionID
	if id == 0 || len(respParts(resp)) != 2 {
		t.Fatalf("new session: id %d, parts %v", id, respParts(resp))
	}
	for _, tc := range []struct {
		name  string
		req   *kmsg.FetchRequest
		hw    map[int32]int64
		code  int16
		parts []int32
	}{
		{"nothing changed", sessReq(id, 1), hw, 0, nil},
		{"hw moved on 1", sessReq(id, 2), map[int32]int64{0: 5, 1: 6}, 0, []int32{1}},
		{"add 2", sessReq(id, 3, 2), map[int32]int64{0: 5, 1: 6, 2: 5}, 0, []int32{2}},
		{"update 0's offset, no change", sessReq(id, 4, 0), map[int32]int64{0: 5, 1: 6, 2: 5}, 0, nil},
		{"wrong epoch", sessReq(id, 4), hw, kerr.InvalidFetchSessionEpoch.Code, nil},
		{"epoch still 5", sessReq(id, 5), map[int32]int64{0: 5, 1: 6, 2: 5}, 0, nil},
		{"unknown id", sessReq(id+1, 1), hw, kerr.FetchSessionIDNotFound.Code, nil},
	} {
		resp, code := fetchVia(fs, tc.req, tc.hw, false)
		if code != tc.code {
			t.Fatalf("%s: code %d, want %d", tc.name, code, tc.code)
		}
		if code != 0 {
			continue
		}
		if resp.SessionID != id || fmt.Sprint(respParts(resp)) != fmt.Sprint(tc.parts) {
			t.Fatalf("%s: id %d parts %v, want %d %v", tc.name, resp.SessionID, respParts(resp), id, tc.parts)
		}
	}
	// Forget 1: a later change of 1 is not reported, 0's is.
	req := sessReq(id, 6)
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = "t", []int32{1}
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
	fc, _ := fs.begin(req, false)
	if got := fmt.Sprint(fc.req.Topics[0].Partitions[0].Partition, fc.req.Topics[0].Partitions[1].Partition, len(fc.req.Topics[0].Partitions)); got != "0 2 2" {
		t.Fatalf("after forget the session serves %s, want partitions 0 2", got)
	}
	resp = sessResp(fc.req, map[int32]int64{0: 9, 1: 9, 2: 5})
	fc.finish(resp, false)
	if fmt.Sprint(respParts(resp)) != "[0]" {
		t.Fatalf("after forget: parts %v, want [0]", respParts(resp))
	}
	// An error is always reported, and the partition again once it clears.
	fc, _ = fs.begin(sessReq(id, 7), false)
	resp = sessResp(fc.req, map[int32]int64{0: 9, 2: 5})
	resp.Topics[0].Partitions[1].ErrorCode = kerr.NotLeaderForPartition.Code
	fc.finish(resp, false)
	if fmt.Sprint(respParts(resp)) != "[2]" {
		t.Fatalf("error: parts %v, want [2]", respParts(resp))
	}
	resp, _ = fetchVia(fs, sessReq(id, 8), map[int32]int64{0: 9, 2: 5}, false)
	if fmt.Sprint(respParts(resp)) != "[2]" {
		t.Fatalf("error cleared: parts %v, want [2]", respParts(resp))
	}
	// X/-1 closes the session and is served sessionless.
	resp, _ = fetchVia(fs, sessReq(id, -1, 0), hw, false)
	if resp.SessionID != 0 || fs.len() != 0 || len(respParts(resp)) != 1 {
		t.Fatalf("close: id %d, %d sessions, parts %v", resp.SessionID, fs.len(), respParts(resp))
	}
	if _, code := fetchVia(fs, sessReq(id, 9), hw, false); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: code %d", code)
	}
	// Topic ids: a v13 fetch on a session made at v12 is refused.
	resp, _ = fetchVia(fs, sessReq(0, 0, 0), hw, false)
	req = sessReq(resp.SessionID, 1)
	req.Version = 13
	if _, code := fetchVia(fs, req, hw, false); code != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("topic id switch: code %d", code)
	}
}

func TestFetchSessionEviction(t *testing.T) {
	hw := map[int32]int64{}
	newSession := func(fs *fetchSessions, privileged bool, parts ...int32) int32 {
		resp, _ := fetchVia(fs, sessReq(0, 0, parts...), hw, privileged)
		return resp.SessionID
	}
	alive := func(fs *fetchSessions, id int32) bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return fs.sessions[id] != nil
	}
	t.Run("young sessions are kept", func(t *testing.T) {
		fs, _ := newTestSessions(2)
		a, b := newSession(fs, false, 0), newSession(fs, false, 0, 1)
		if a == 0 || b == 0 {
			t.Fatal("no session with room")
		}
		if id := newSession(fs, false, 0, 1, 2, 3); id != 0 {
			t.Fatalf("a young session was evicted for %d", id)
		}
	})
	t.Run("stale session goes first", func(t *testing.T) {
		fs, clk := newTestSessions(2)
		a := newSession(fs, false, 0, 1, 2)
		clk.Advance(time.Minute)
		b := newSession(fs, false, 0, 1, 2)
		clk.Advance(90 * time.Second) // a idle 150s, b 90s
		c := newSession(fs, false, 0)
		if c == 0 || alive(fs, a) || !alive(fs, b) {
			t.Fatalf("stale eviction: new %d, a alive %v, b alive %v", c, alive(fs, a), alive(fs, b))
		}
	})
	t.Run("old sessions yield to bigger ones", func(t *testing.T) {
		fs, clk := newTestSessions(2)
		a := newSession(fs, false, 0, 1)
		b := newSession(fs, false, 0, 1, 2)
		clk.Advance(3 * time.Minute)
		// Both are used again: not stale, but older than the eviction time.
		fetchVia(fs, sessReq(a, 1), hw, false)
		fetchVia(fs, sessReq(b, 1), hw, false)
		if id := newSession(fs, false, 0); id != 0 {
			t.Fatal("a smaller session evicted a bigger one")
		}
		if id := newSession(fs, false, 0, 1); id != 0 {
			t.Fatal("an equal session evicted another")
		}
		c := newSession(fs, false, 0, 1, 2, 3)
		if c == 0 || alive(fs, a) || !alive(fs, b) {
			t.Fatalf("value eviction: new %d, a alive %v, b alive %v", c, alive(fs, a), alive(fs, b))
		}
	})
	t.Run("followers evict young consumer sessions", func(t *testing.T) {
		fs, _ := newTestSessions(2)
		a := newSession(fs, false, 0, 1, 2, 3)
		f := newSession(fs, true, 0)
		if id := newSession(fs, false, 0, 1, 2, 3, 4); id != 0 {
			t.Fatal("a consumer evicted a young session")
		}
		g := newSession(fs, true, 0)
		if g == 0 || alive(fs, a) || !alive(fs, f) {
			t.Fatalf("privileged: new %d, consumer alive %v, follower alive %v", g, alive(fs, a), alive(fs, f))
		}
		if id := newSession(fs, true, 0, 1); id != 0 {
			t.Fatal("a follower evicted a young follower session")
		}
	})
	t.Run("no slots declines sessions", func(t *testing.T) {
		fs, _ := newTestSessions(0)
		if id := newSession(fs, false, 0); id != 0 {
			t.Fatalf("session %d with 0 slots", id)
		}
	})
}

// TestFetchSessionKgoManyPartitions consumes 200 partitions with kgo,
// which uses incremental fetch sessions, while producing continues.
func TestFetchSessionKgoManyPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const parts, perPart = 200, 20
	if _, err := b.admin().CreateTopic(context.Background(), parts, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	p := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(round int) {
		var wg sync.WaitGroup
		for part := int32(0); part < parts; part++ {
			for i := 0; i < perPart/2; i++ {
				wg.Add(1)
				r := &kgo.Record{Topic: "t", Partition: part, Value: []byte(fmt.Sprint(round, i))}
				p.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
	}
	produce(0)
	c := b.client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	next := make([]int64, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := 0
	consume := func(want int) {
		for n < want {
			fs := c.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d: %v", n, want, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				n++
			})
		}
	}
	consume(parts * perPart / 2)
	if b.srv.deps.sessions.len() == 0 {
		t.Fatal("kgo holds no fetch session")
	}
	produce(1) // served by incremental fetches of the session
	consume(parts * perPart)
}

// TestFetchSessionIncrementalIsSmall: across 1,000 idle partitions an
// incremental fetch returns no partitions and is far smaller than the
// full fetch that made the session.
func TestFetchSessionIncrementalIsSmall(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const parts = 1000
	if _, err := b.admin().CreateTopic(context.Background(), parts, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	rc := b.raw(t)
	// The first fetch waits for 1,000 new logs to open (2.5 s under -race
	// on a quiet machine, past 10 s on a loaded one).
	rc.wc.Timeout = time.Minute
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("t")
	meta.Topics = append(meta.Topics, mt)
	mresp := rc.do(meta).(*kmsg.MetadataResponse)
	id := mresp.Topics[0].TopicID

	full := kmsg.NewPtrFetchRequest()
	full.Version = 13
	full.SessionID, full.SessionEpoch = 0, 0
	full.MaxWaitMillis, full.MinBytes = 0, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.TopicID = id
	for p := int32(0); p < parts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		ft.Partitions = append(ft.Partitions, rp)
	}
	full.Topics = append(full.Topics, ft)
	fresp := rc.do(full).(*kmsg.FetchResponse)
	for _, p := range fresp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("full fetch: partition %d: error %d", p.Partition, p.ErrorCode)
		}
	}
	if fresp.ErrorCode != 0 || fresp.SessionID == 0 || len(respParts(fresp)) != parts {
		t.Fatalf("full fetch: error %d, session %d, %d partitions", fresp.ErrorCode, fresp.SessionID, len(respParts(fresp)))
	}
	inc := kmsg.NewPtrFetchRequest()
	inc.Version = 13
	inc.SessionID, inc.SessionEpoch = fresp.SessionID, 1
	inc.MaxWaitMillis, inc.MinBytes = 0, 1
	iresp := rc.do(inc).(*kmsg.FetchResponse)
	if iresp.ErrorCode != 0 || iresp.SessionID != fresp.SessionID || len(iresp.Topics) != 0 {
		t.Fatalf("incremental fetch: error %d, session %d, %d topics", iresp.ErrorCode, iresp.SessionID, len(iresp.Topics))
	}
	// Long poll on the session: a record on partition 7 ends it, and only
	// partition 7 is in the response.
	inc.SessionEpoch, inc.MaxWaitMillis = 2, 20000
	corr := rc.send(inc)
	p := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Partition: 7, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lresp := rc.recv(inc, corr).(*kmsg.FetchResponse)
	if got := respParts(lresp); len(got) != 1 || got[0] != 7 || len(lresp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("long poll on the session answered partitions %v", got)
	}
	inc.SessionEpoch, inc.MaxWaitMillis = 1, 0
	size := func(m interface{ AppendTo([]byte) []byte }) int { return len(m.AppendTo(nil)) }
	fq, fr, iq, ir := size(full), size(fresp), size(inc), size(iresp)
	t.Logf("1000 idle partitions: full fetch request %d B, response %d B; incremental request %d B, response %d B", fq, fr, iq, ir)
	if iq*20 > fq || ir*20 > fr {
		t.Fatalf("incremental fetch not much smaller: request %d vs %d B, response %d vs %d B", iq, fq, ir, fr)
	}
}

// fetchBytes counts a client's Fetch requests and their bytes on the wire.
type fetchBytes struct {
	mu              sync.Mutex
	reqs, resps     int
	reqBytes, respB []int
}

func (h *fetchBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h.mu.Lock()
		h.reqs++
		h.reqBytes = append(h.reqBytes, n)
		h.mu.Unlock()
	}
}

func (h *fetchBytes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h.mu.Lock()
		h.resps++
		h.respB = append(h.respB, n)
		h.mu.Unlock()
	}
}

// TestFetchSessionKgoIdleBytes measures a kgo consumer of 1,000 idle
// partitions with and without fetch sessions: bytes per steady-state
// Fetch round trip (the first two, which make the session, are left out).
func TestFetchSessionKgoIdleBytes(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const parts = 1000
	if _, err := b.admin().CreateTopic(context.Background(), parts, 1, nil, "idle"); err != nil {
		t.Fatal(err)
	}
	measure := func(opts ...kgo.Opt) (req, resp float64) {
		h := &fetchBytes{}
		opts = append(opts, kgo.ConsumeTopics("idle"), kgo.FetchMaxWait(100*time.Millisecond), kgo.WithHooks(h))
		c := b.client(opts...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				c.PollFetches(ctx)
			}
		}()
		const skip, n = 2, 10
		waitFor(t, "fetches", 30*time.Second, func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.resps >= skip+n
		})
		c.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		var rq, rs int
		for i := skip; i < skip+n; i++ {
			rq += h.reqBytes[i]
			rs += h.respB[i]
		}
		return float64(rq) / n, float64(rs) / n
	}
	sq, sr := measure()
	fq, fr := measure(kgo.DisableFetchSessions())
	t.Logf("kgo, 1000 idle partitions, bytes per Fetch: with sessions request %.0f response %.0f; without request %.0f response %.0f", sq, sr, fq, fr)
	if sq*10 > fq || sr*10 > fr {
		t.Fatalf("sessions save too little: request %.0f vs %.0f B, response %.0f vs %.0f B", sq, fq, sr, fr)
	}
}

// TestFetchSessionRotation: partitions that got records go to the end of
// the session's order (Kafka's fairness), the others keep theirs.
func TestFetchSessionRotation(t *testing.T) {
	t.Parallel()
	fs, _ := newTestSessions(10)
	resp, _ := fetchVia(fs, sessReq(0, 0, 0, 1, 2, 3), nil, true)
	id := resp.SessionID
	order := func(epoch int32, records ...int32) []int32 {
		fc, code := fs.begin(sessReq(id, epoch), true)
		if code != 0 {
			t.Fatalf("epoch %d: error %d", epoch, code)
		}
		served := respParts(sessResp(fc.req, nil))
		resp := sessResp(fc.req, nil)
		for i := range resp.Topics[0].Partitions {
			p := &resp.Topics[0].Partitions[i]
			for _, r := range records {
				if p.Partition == r {
					p.RecordBatches = []byte{1}
				}
			}
		}
		fc.finish(resp, true)
		return served
	}
	for i, step := range []struct {
		records []int32
		want    string
	}{
		{[]int32{0, 2}, "[0 1 2 3]"},
		{nil, "[1 3 0 2]"},
		{[]int32{1}, "[1 3 0 2]"},
		{nil, "[3 0 2 1]"},
	} {
		if got := fmt.Sprint(order(int32(i+1), step.records...)); got != step.want {
			t.Fatalf("served in order %s, want %s", got, step.want)
		}
	}
}
