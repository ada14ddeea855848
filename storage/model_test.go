package storage

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

type modelBatch struct {
	base, last int64
	data       []byte
}

// TestRandomizedModel drives random appends, reads, restarts and crashes
// against a simple in-memory model of the log.
func TestRandomizedModel(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		dir := t.TempDir()
		cfg := DefaultConfig()
		cfg.SegmentBytes = int64(500 + rng.IntN(3000))
		cfg.IndexIntervalBytes = int32(1 + rng.IntN(600))
		cfg.SegmentIndexBytes = int32(24 + rng.IntN(200))
		l := openLog(t, dir, cfg)
		var model []modelBatch
		leo := int64(0)
		seq := int32(0)
		var lastIdem []byte
		var lastIdemBase int64
		for step := 0; step < 600; step++ {
			switch op := rng.IntN(100); {
			case op < 50: // append
				o := noPID()
				o.n, o.valueSize, o.fill = 1+rng.IntN(5), 1+rng.IntN(300), byte(step)
				idem := rng.IntN(2) == 0
				if idem {
					o.pid, o.epoch, o.seq = 42, 0, seq
				}
				b := buildBatch(o)
				res, err := l.Append(b, int32(step/100))
				if err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				if res.Duplicate || res.BaseOffset != leo {
					t.Fatalf("seed %d: result %+v want base %d", seed, res, leo)
				}
				model = append(model, modelBatch{leo, leo + int64(o.n) - 1, b})
				if idem {
					seq += int32(o.n)
					lastIdem, lastIdemBase = append([]byte(nil), b...), leo
				}
				leo += int64(o.n)
			case op < 55 && lastIdem != nil: // retry the last idempotent batch
				res, err := l.Append(append([]byte(nil), lastIdem...), 0)
				if err != nil || !res.Duplicate || res.BaseOffset != lastIdemBase {
					t.Fatalf("seed %d: retry %+v %v", seed, res, err)
				}
			case op < 85: // read
				if leo == 0 {
					continue
				}
				off := rng.Int64N(leo + 1)
				maxOff := off + rng.Int64N(leo-off+1)
				maxBytes := int32(rng.IntN(2000))
				minOne := rng.IntN(2) == 0
				reg, err := l.Read(off, maxOff, maxBytes, minOne)
				if err != nil {
					t.Fatalf("seed %d: Read: %v", seed, err)
				}
				got, err := reg.ReadAll()
				reg.Release()
				if err != nil {
					t.Fatal(err)
				}
				checkRegion(t, model, got, off, maxOff, maxBytes, minOne)
			case op < 92: // clean restart
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, dir, cfg)
			case op < 97: // crash
				if rng.IntN(2) == 0 {
					l.Flush()
				}
				crash(l)
				l = openLog(t, dir, cfg)
			default: // out of range
				if _, err := l.Read(leo+1+rng.Int64N(10), leo+100, 100, true); err == nil {
					t.Fatal("no out of range error")
				}
			}
			if l.LogEndOffset() != leo {
				t.Fatalf("seed %d step %d: LEO %d want %d", seed, step, l.LogEndOffset(), leo)
			}
		}
		var want []byte
		for _, m := range model {
			want = append(want, m.data...)
		}
		if got := readAll(t, l, 0, 4096); !bytes.Equal(got, want) {
			t.Fatalf("seed %d: final contents differ", seed)
		}
	}
}

func checkRegion(t *testing.T, model []modelBatch, got []byte, off, maxOff int64, maxBytes int32, minOne bool) {
	t.Helper()
	if off >= maxOff {
		if len(got) != 0 {
			t.Fatalf("non-empty region at/after maxOffset")
		}
		return
	}
	i := 0
	for model[i].last < off {
		i++
	}
	p := got
	n := 0
	for ; len(p) > 0; i++ {
		m := model[i]
		if m.base >= maxOff || !bytes.HasPrefix(p, m.data) {
			t.Fatalf("region batch %d mismatch (off %d maxOff %d)", n, off, maxOff)
		}
		p = p[len(m.data):]
		n++
	}
	if len(got) > int(maxBytes) && !(n == 1 && minOne) {
		t.Fatalf("region %d bytes > maxBytes %d", len(got), maxBytes)
	}
	if n == 0 && minOne {
		t.Fatalf("empty region with minOneBatch at %d (maxOff %d)", off, maxOff)
	}
}

// TestConcurrentReadAppend checks that readers never see partial batches.
func TestConcurrentReadAppend(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 20000
	cfg.IndexIntervalBytes = 500
	l := openLog(t, t.TempDir(), cfg)
	const total = 1500
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				hw := l.HighWatermark()
				if hw == 0 {
					continue
				}
				off := rng.Int64N(hw)
				reg, err := l.Read(off, hw, int32(rng.IntN(5000)), true)
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				b, err := reg.ReadAll()
				if err != nil || len(b) == 0 {
					t.Errorf("ReadAll: %v (%d bytes)", err, len(b))
					return
				}
				for len(b) > 0 {
					h, err := validateBatch(b)
					if err != nil {
						t.Errorf("partial/corrupt batch: %v", err)
						return
					}
					b = b[h.Size():]
				}
				l.OffsetForTimestamp(1000)
				l.MaxTimestamp()
			}
		}(r)
	}
	for i := 0; i < total; i++ {
		o := noPID()
		o.n, o.valueSize = 1+i%4, 50+i%200
		if _, err := l.Append(buildBatch(o), 0); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}
