package main

// Measurement helpers for `gregor-bench bench`: a lock-free latency histogram, a
// throughput counter, and a sampler of another process's CPU time and RSS
// from /proc.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// histSubBits sub-buckets per power of two: 32 sub-buckets bound the
// relative error of a reported percentile by 1/32 (about 3%).
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

// hist is a log-linear histogram of durations in microseconds, in the
// manner of HdrHistogram: values below 32 µs are exact, larger ones land
// in one of 32 equal sub-buckets of their power of two. Record is safe for
// concurrent use and takes no lock.
type hist struct {
	counts [histBuckets]atomic.Int64
}

// histSnap is a point-in-time copy of a hist (or a difference of two).
type histSnap [histBuckets]int64

func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return (shift+1)<<histSubBits + int(v>>shift) - histSub
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	m := uint64(i&(histSub-1) + histSub)
	return (m+1)<<shift - 1
}

func (h *hist) record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[histBucket(uint64(us))].Add(1)
}

func (h *hist) snapshot() *histSnap {
	var s histSnap
	for i := range h.counts {
		s[i] = h.counts[i].Load()
	}
	return &s
}

// sub returns s - prev (the samples recorded between two snapshots).
func (s *histSnap) sub(prev *histSnap) *histSnap {
	var d histSnap
	for i := range s {
		d[i] = s[i] - prev[i]
	}
	return &d
}

func (s *histSnap) count() int64 {
	var n int64
	for _, c := range s {
		n += c
	}
	return n
}

// quantile returns the q-quantile (0 < q <= 1) as the upper bound of the
// bucket holding it, or -1 without samples.
func (s *histSnap) quantile(q float64) time.Duration {
	n := s.count()
	if n == 0 {
		return -1
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range s {
		if seen += c; seen >= rank {
			return time.Duration(histUpper(i)) * time.Microsecond
		}
	}
	return -1
}

// meter counts records and payload bytes and keeps their latencies.
type meter struct {
	records atomic.Int64
	bytes   atomic.Int64
	errors  atomic.Int64
	lat     hist
}

func (m *meter) add(n int, lat time.Duration, withLat bool) {
	m.records.Add(1)
	m.bytes.Add(int64(n))
	if withLat {
		m.lat.record(lat)
	}
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat
// (`getconf CLK_TCK`). The kernel fixes it at 100 for userspace on every
// architecture Linux supports, whatever CONFIG_HZ is.
const clockTicks = 100

// procStat is a sample of a process's CPU time and memory.
type procStat struct {
	cpu time.Duration // user + system
	rss int64         // VmRSS, bytes
	hwm int64         // VmHWM (peak RSS since start), bytes
}

// readProcStat reads /proc/PID/stat and /proc/PID/status (Linux only).
func readProcStat(pid int) (procStat, error) {
	var ps procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	if ps.cpu, err = parseStatCPU(b); err != nil {
		return ps, err
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	ps.rss, ps.hwm = parseStatusMem(st)
	return ps, nil
}

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat.
// The command name (field 2) is in parentheses and may hold spaces or
// parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	// After ')': field 3 (state) is rest[0]; utime and stime are fields 14, 15.
	rest := strings.Fields(string(b[i+1:]))
	if len(rest) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(rest[11], 10, 64)
	st, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: /proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseStatusMem returns VmRSS and VmHWM in bytes from /proc/PID/status.
func parseStatusMem(b []byte) (rss, hwm int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm
}

// procWatch follows a process while a run is measured: CPU time between
// start and stop, and the largest RSS seen by sample.
type procWatch struct {
	pid     int
	start   procStat
	last    procStat
	peakRSS atomic.Int64
}

func newProcWatch(pid int) (*procWatch, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return nil, fmt.Errorf("bench: --pid %d: %w", pid, err)
	}
	w := &procWatch{pid: pid, start: st, last: st}
	w.peakRSS.Store(st.rss)
	return w, nil
}

// sample reads the process now, keeping the peak RSS; it returns the
// sample, or the previous one if the process is gone.
func (w *procWatch) sample() procStat {
	st, err := readProcStat(w.pid)
	if err != nil {
		return w.last
	}
	w.last = st
	if st.rss > w.peakRSS.Load() {
		w.peakRSS.Store(st.rss)
	}
	return st
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func fmtMiB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64)
}
