package quota

import (
	"testing"
	"time"
)

// TestThrottleKafka replays ClientQuotaManagerTest.testQuotaViolation: a
// 500 B/s quota, 400 B/s for ten seconds, then a 2,300-byte spike half a
// second later is throttled for exactly 2,100 ms, and ten more seconds at
// 400 B/s roll the spike out.
func TestThrottleKafka(t *testing.T) {
	t.Parallel()
	r := NewRate(Default())
	now := time.UnixMilli(1_000_000)
	for range 10 {
		if d := r.RecordAndThrottle(400, 500, now); d != 0 {
			t.Fatalf("under quota throttled %v", d)
		}
		now = now.Add(time.Second)
	}
	now = now.Add(500 * time.Millisecond)
	if d := r.RecordAndThrottle(2300, 500, now); d != 2100*time.Millisecond {
		t.Fatalf("spike throttled %v, want 2.1s", d)
	}
	now = now.Add(2100 * time.Millisecond)
	for range 10 {
		r.RecordAndThrottle(400, 500, now)
		now = now.Add(time.Second)
	}
	if d := r.RecordAndThrottle(0, 500, now); d != 0 {
		t.Fatalf("after the spike rolled over: throttled %v", d)
	}
}

func TestRateWindow(t *testing.T) {
	t.Parallel()
	r := NewRate(Config{WindowNum: 2, WindowSize: time.Second})
	now := time.UnixMilli(0)
	r.Record(1000, now)
	// One sample just started: the span is at least WindowNum-1 windows.
	if got := r.Measure(now); got != 1000 {
		t.Fatalf("rate %v", got)
	}
	now = now.Add(1500 * time.Millisecond)
	r.Record(500, now)
	if got := r.Measure(now); got != 1000 { // 1500 bytes over 1.5 s
		t.Fatalf("rate %v", got)
	}
	// Samples idle for WindowNum windows are dropped.
	now = now.Add(2 * time.Second)
	if got := r.Measure(now); got != 0 {
		t.Fatalf("rate after idle %v", got)
	}
	if d := r.RecordAndThrottle(5000, -1, now); d != 0 {
		t.Fatalf("unlimited throttled %v", d)
	}
	if d := NewRate(Config{}).RecordAndThrottle(1, 0, now); d != 11*time.Second {
		t.Fatalf("zero quota throttled %v", d)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	U := func(u string) Entity { return Entity{User: u, HasUser: true} }
	UD := Entity{UserDefault: true, HasUser: true}
	withC := func(e Entity, c string) Entity { e.ClientID, e.HasClientID = c, true; return e }
	withCD := func(e Entity) Entity { e.ClientIDDefault, e.HasClientID = true, true; return e }
	C := func(c string) Entity { return Entity{ClientID: c, HasClientID: true} }
	CD := Entity{ClientIDDefault: true, HasClientID: true}
	levels := []Entity{withC(U("alice"), "app"), withCD(U("alice")), U("alice"), withC(UD, "app"), withCD(UD), UD, C("app"), CD}
	for want := 1; want <= 8; want++ {
		s := MapStore{}
		for i := want - 1; i < 8; i++ {
			s[levels[i]] = map[string]float64{KeyProducerByteRate: float64(i + 1)}
		}
		m, v, lvl, ok := Resolve(s, "alice", "app", KeyProducerByteRate)
		if !ok || int(lvl) != want || v != float64(want) {
			t.Fatalf("level %d: got level %d value %v ok %v", want, lvl, v, ok)
		}
		if !m.HasUser && want <= 6 || m.UserDefault || m.ClientIDDefault {
			t.Fatalf("level %d: matched %+v", want, m)
		}
		if _, _, _, ok := Resolve(s, "alice", "app", KeyConsumerByteRate); ok {
			t.Fatal("other key matched")
		}
	}
	// A user-level quota is shared by every client id of the user.
	s := MapStore{U("alice"): {KeyProducerByteRate: 1}}
	m1, _, _, _ := Resolve(s, "alice", "a", KeyProducerByteRate)
	m2, _, _, _ := Resolve(s, "alice", "b", KeyProducerByteRate)
	if m1 != m2 || m1 != U("alice") {
		t.Fatalf("%+v %+v", m1, m2)
	}
	// A default client-id quota is per client id.
	s = MapStore{CD: {KeyProducerByteRate: 1}}
	m1, _, _, _ = Resolve(s, "alice", "a", KeyProducerByteRate)
	m2, _, _, _ = Resolve(s, "bob", "b", KeyProducerByteRate)
	if m1 == m2 || m1 != C("a") {
		t.Fatalf("%+v %+v", m1, m2)
	}
	if _, _, _, ok := Resolve(MapStore{}, "alice", "a", KeyProducerByteRate); ok {
		t.Fatal("empty store matched")
	}
}
