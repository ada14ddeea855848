package main

import (
	"os"
	"sync"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := histBucket(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucket(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if up := histUpper(i); up < v || float64(up-v) > float64(v)/histSub+1 {
			t.Fatalf("bucket(%d) upper bound %d: more than 1/%d off", v, up, histSub)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d", v, i-1)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	t.Parallel()
	var h hist
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 2500; i++ {
				h.record(time.Duration(g*2500+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	s := h.snapshot()
	if n := s.count(); n != 10000 {
		t.Fatalf("count %d", n)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := s.quantile(tc.q)
		if got < tc.want || got > tc.want+tc.want/histSub {
			t.Errorf("q%v = %v, want %v (+3%%)", tc.q, got, tc.want)
		}
	}
	if d := s.sub(s).quantile(0.5); d != -1 {
		t.Errorf("empty quantile %v", d)
	}
}

func TestParseProc(t *testing.T) {
	t.Parallel()
	// comm with spaces and a parenthesis; utime 250, stime 50 ticks.
	stat := []byte("1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 123456 789 18446744073709551615\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Fatalf("cpu %v, %v; want 3s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1")); err == nil {
		t.Fatal("short stat parsed")
	}
	rss, hwm := parseStatusMem([]byte("Name:\tgregor\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n"))
	if rss != 10<<20 || hwm != 20<<20 {
		t.Fatalf("rss %d hwm %d", rss, hwm)
	}
}

func TestReadProcStatSelf(t *testing.T) {
	t.Parallel()
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st.rss < 0 || st.cpu < 0 {
		t.Fatalf("%+v", st)
	}
}
