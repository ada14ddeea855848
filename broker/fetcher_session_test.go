package broker

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wants returns partitions 0..n-1 of topic t at offset off (per partition
// the same fetch data, so that tests change one thing at a time).
func wants(t string, n int, off int64) []fetchWant {
	var out []fetchWant
	for i := range n {
		out = append(out, fetchWant{key: tp{t, int32(i)}, st: &fetchState{}, data: fetchData{epoch: 1, offset: off, logStart: 0, maxBytes: 1 << 20, lastEpoch: -1}})
	}
	return out
}

// named lists the partitions a request names, as "topic/partition".
func named(req *kmsg.FetchRequest) []string {
	var out []string
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d@%d", t.Topic, p.Partition, p.FetchOffset))
		}
	}
	return out
}

func forgotten(req *kmsg.FetchRequest) []string {
	var out []string
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d", t.Topic, p))
		}
	}
	return out
}

func okResp(id int32, parts ...tp) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = id
	for _, k := range parts {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = k.topic
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = k.index
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func errResp(code int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.ErrorCode = code
	return resp
}

// open returns a client with an open session 7 at epoch 1 over want.
func open(t *testing.T, want []fetchWant) *sessionClient {
	t.Helper()
	c := &sessionClient{}
	b := c.build(kmsg.NewPtrFetchRequest(), want)
	if !c.receive(b, okResp(7), nil) || c.id != 7 || c.epoch != 1 {
		t.Fatalf("session not opened: id %d epoch %d", c.id, c.epoch)
	}
	return c
}

func TestSessionClientBuild(t *testing.T) {
	t.Parallel()
	base := wants("a", 3, 10)
	for _, tc := range []struct {
		name      string
		change    func([]fetchWant) []fetchWant
		named     []string
		forgotten []string
	}{
		{"unchanged", func(w []fetchWant) []fetchWant { return w }, nil, nil},
		{"fetch offset moved", func(w []fetchWant) []fetchWant { w[1].data.offset = 11; return w }, []string{"a/1@11"}, nil},
		{"log start moved", func(w []fetchWant) []fetchWant { w[0].data.logStart = 5; return w }, []string{"a/0@10"}, nil},
		{"leader epoch changed", func(w []fetchWant) []fetchWant { w[2].data.epoch = 2; return w }, []string{"a/2@10"}, nil},
		{"max bytes changed", func(w []fetchWant) []fetchWant { w[2].data.maxBytes = 1; return w }, []string{"a/2@10"}, nil},
		{"removed (held, truncating, moved away)", func(w []fetchWant) []fetchWant { return slices.Delete(w, 1, 2) }, nil, []string{"a/1"}},
		{"added", func(w []fetchWant) []fetchWant { return append(w, wants("b", 1, 0)...) }, []string{"b/0@0"}, nil},
		{"added, moved and removed at once", func(w []fetchWant) []fetchWant {
			w[0].data.offset = 12
			return append(w[:1], wants("b", 2, 3)...)
		}, []string{"a/0@12", "b/0@3", "b/1@3"}, []string{"a/1", "a/2"}},
		{"everything removed but one new", func([]fetchWant) []fetchWant { return wants("c", 1, 0) }, []string{"c/0@0"}, []string{"a/0", "a/1", "a/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := open(t, slices.Clone(base))
			req := kmsg.NewPtrFetchRequest()
			b := c.build(req, tc.change(slices.Clone(base)))
			if b.full || req.SessionID != 7 || req.SessionEpoch != 1 {
				t.Fatalf("want incremental 7/1, got full %v %d/%d", b.full, req.SessionID, req.SessionEpoch)
			}
			if got := named(req); !slices.Equal(got, tc.named) {
				t.Errorf("named %v, want %v", got, tc.named)
			}
			if got := forgotten(req); !slices.Equal(got, tc.forgotten) {
				t.Errorf("forgotten %v, want %v", got, tc.forgotten)
			}
			if b.sent != len(tc.named) || b.forgotten != len(tc.forgotten) {
				t.Errorf("counted %d sent, %d forgotten", b.sent, b.forgotten)
			}
		})
	}
}

func TestSessionClientReceive(t *testing.T) {
	t.Parallel()
	w := wants("a", 2, 10)
	for _, tc := range []struct {
		name      string
		resp      *kmsg.FetchResponse
		err       error
		apply     bool
		id, epoch int32 // after
	}{
		{"incremental answered", okResp(7, tp{"a", 1}), nil, true, 7, 2},
		{"connection error", nil, errors.New("broken pipe"), false, 7, 0},
		{"session id not found", errResp(kerr.FetchSessionIDNotFound.Code), nil, false, 0, 0},
		{"invalid epoch", errResp(kerr.InvalidFetchSessionEpoch.Code), nil, false, 7, 0},
		{"topic id error", errResp(kerr.FetchSessionTopicIDError.Code), nil, false, 7, 0},
		{"other top-level error", errResp(kerr.UnknownServerError.Code), nil, false, 7, 0},
		{"partition outside the session", okResp(7, tp{"a", 5}), nil, false, 7, 0},
		{"another session's id", okResp(8), nil, false, 7, 0},
		{"closed by the leader", okResp(0), nil, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := open(t, slices.Clone(w))
			b := c.build(kmsg.NewPtrFetchRequest(), slices.Clone(w))
			if got := c.receive(b, tc.resp, tc.err); got != tc.apply || c.id != tc.id || c.epoch != tc.epoch {
				t.Fatalf("apply %v id %d epoch %d, want %v %d %d", got, c.id, c.epoch, tc.apply, tc.id, tc.epoch)
			}
			// Whatever happened, the next request is consistent with the
			// state: a full one names every partition.
			req := kmsg.NewPtrFetchRequest()
			nb := c.build(req, slices.Clone(w))
			if nb.full != (tc.epoch == 0) || (nb.full && len(named(req)) != 2) || len(forgotten(req)) != 0 {
				t.Fatalf("next request full %v names %v forgets %v", nb.full, named(req), forgotten(req))
			}
		})
	}
}

func TestSessionClientRefusedAndWrap(t *testing.T) {
	t.Parallel()
	w := wants("a", 2, 0)
	c := &sessionClient{}
	// A leader without room: full fetches asking again every time.
	for range 3 {
		req := kmsg.NewPtrFetchRequest()
		b := c.build(req, w)
		if !b.full || req.SessionID != 0 || req.SessionEpoch != 0 || len(named(req)) != 2 {
			t.Fatalf("want full 0/0 of 2, got %v %d/%d %v", b.full, req.SessionID, req.SessionEpoch, named(req))
		}
		c.receive(b, okResp(0), nil)
	}
	c = open(t, w)
	c.epoch = math.MaxInt32
	b := c.build(kmsg.NewPtrFetchRequest(), w)
	c.receive(b, okResp(7), nil)
	if c.epoch != 1 {
		t.Fatalf("epoch after MaxInt32: %d, want 1", c.epoch)
	}
	// A request never answered does not change the session: after the
	// error the full fetch names every partition again.
	c.reset()
	req := kmsg.NewPtrFetchRequest()
	c.build(req, w)
	if req.SessionID != 7 || req.SessionEpoch != 0 || len(named(req)) != 2 {
		t.Fatalf("after reset: %d/%d %v", req.SessionID, req.SessionEpoch, named(req))
	}
}

// TestSessionClientAgainstCache drives the client against the leader's
// session cache (fetch_sessions.go) through random changes: at every
// fetch the partitions the leader serves, with the fetch data it serves
// them from, are exactly the ones the follower wants; every partition
// whose high watermark moved or that got records is in the response;
// and incremental requests name only what changed.
func TestSessionClientAgainstCache(t *testing.T) {
	t.Parallel()
	fs, _ := newTestSessions(4)
	r := rand.New(rand.NewPCG(1, 2))
	type part struct {
		in     bool
		offset int64
		hw     int64 // the leader's
	}
	parts := map[tp]*part{}
	for i := range 40 {
		parts[tp{fmt.Sprint("t", i%3), int32(i)}] = &part{in: i < 30}
	}
	c := &sessionClient{}
	var lastData map[tp]fetchData
	fulls, incrementals := 0, 0
	for round := range 400 {
		for _, p := range parts {
			switch r.IntN(20) {
			case 0:
				p.in = !p.in // added, or removed (held, truncating, moved)
			case 1, 2:
				p.offset += int64(r.IntN(5)) // the follower appended
			case 3:
				p.hw++
			}
		}
		var want []fetchWant
		for k, p := range parts {
			if p.in {
				want = append(want, fetchWant{key: k, st: &fetchState{}, data: fetchData{epoch: 1, offset: p.offset, maxBytes: 100, lastEpoch: -1}})
			}
		}
		slices.SortFunc(want, func(a, b fetchWant) int { return compareTP(a.key, b.key) })
		if round%97 == 50 {
			c.reset() // a leader epoch change
		}
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = 2
		b := c.build(req, want)
		if b.full {
			fulls++
		} else {
			incrementals++
			for _, rt := range req.Topics {
				for _, rp := range rt.Partitions {
					if d, ok := lastData[tp{rt.Topic, rp.Partition}]; ok && d.offset == rp.FetchOffset {
						t.Fatalf("round %d: unchanged %s/%d resent", round, rt.Topic, rp.Partition)
					}
				}
			}
		}
		fc, code := fs.begin(req, true)
		if code != 0 {
			t.Fatalf("round %d: top-level error %d", round, code)
		}
		served := map[tp]int64{}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		news := map[tp]bool{}
		for _, rt := range fc.req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				k := tp{rt.Topic, rp.Partition}
				served[k] = rp.FetchOffset
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = parts[k].hw, parts[k].hw, 0
				if r.IntN(10) == 0 {
					sp.RecordBatches = []byte{1}
					news[k] = true
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if len(served) != len(want) {
			t.Fatalf("round %d: leader serves %d partitions, follower wants %d", round, len(served), len(want))
		}
		for _, w := range want {
			if off, ok := served[w.key]; !ok || off != w.data.offset {
				t.Fatalf("round %d: %v served from %d (%v), follower at %d", round, w.key, off, ok, w.data.offset)
			}
		}
		fc.finish(resp, true)
		got := map[tp]bool{}
		for _, rt := range resp.Topics {
			for _, sp := range rt.Partitions {
				got[tp{rt.Topic, sp.Partition}] = true
			}
		}
		for k := range news {
			if !got[k] {
				t.Fatalf("round %d: %v had records but is not in the response", round, k)
			}
		}
		if !c.receive(b, resp, nil) {
			t.Fatalf("round %d: response refused", round)
		}
		lastData = map[tp]fetchData{}
		for _, w := range want {
			lastData[w.key] = w.data
		}
	}
	if fulls > 6 || incrementals < 390 {
		t.Fatalf("%d full and %d incremental fetches", fulls, incrementals)
	}
	t.Logf("%d full and %d incremental fetches", fulls, incrementals)
}

// TestSessionRequestBytes measures the encoded size of a follower's fetch
// of n idle partitions, full (as without sessions) and incremental.
func TestSessionRequestBytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{300, 1000} {
		var want []fetchWant
		for i := range n {
			want = append(want, fetchWant{key: tp{fmt.Sprintf("topic-%d", i/100), int32(i % 100)}, st: &fetchState{},
				data: fetchData{epoch: 3, offset: 12345, maxBytes: 1 << 20, lastEpoch: -1}})
		}
		size := func(req *kmsg.FetchRequest) int {
			req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, 2, 500, 1, 10<<20
			return len(req.AppendTo(nil))
		}
		c := &sessionClient{}
		full := kmsg.NewPtrFetchRequest()
		b := c.build(full, want)
		fullSize := size(full)
		c.receive(b, okResp(7), nil)
		inc := kmsg.NewPtrFetchRequest()
		if c.build(inc, want).sent != 0 {
			t.Fatal("idle partitions resent")
		}
		incSize := size(inc)
		t.Logf("%d idle partitions in %d topics: %d B full, %d B incremental", n, n/100, fullSize, incSize)
		if incSize*100 > fullSize {
			t.Errorf("incremental %d B not below 1%% of full %d B", incSize, fullSize)
		}
	}
}
