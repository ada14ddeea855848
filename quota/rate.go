// Package quota holds Kafka's client quota arithmetic with no networking
// and no dependency on other gregor packages: the sampled byte-rate of
// Kafka's metrics (quota.window.num windows of quota.window.size.seconds),
// the throttle time ClientQuotaManager computes from it, and the
// eight-level user/client-id precedence that picks which quota applies.
package quota

import (
	"math"
	"sync"
	"time"
)

// Kafka's defaults for quota.window.num and quota.window.size.seconds.
const (
	DefaultWindowNum  = 11
	DefaultWindowSize = time.Second
)

// Config is the sampling configuration.
type Config struct {
	WindowNum  int           // quota.window.num
	WindowSize time.Duration // quota.window.size.seconds
}

// Default returns Kafka's defaults.
func Default() Config { return Config{WindowNum: DefaultWindowNum, WindowSize: DefaultWindowSize} }

type sample struct {
	value     float64
	events    int
	startMs   int64
	lastEvent int64
}

// Rate is a rate over sampled windows, as Kafka's Rate over a SampledStat:
// WindowNum windows (plus one that overlaps the monitored span) each
// starting at its first record, obsolete windows reset when measured, and
// the rate's span taken as at least WindowNum-1 full windows. Safe for
// concurrent use.
type Rate struct {
	cfg     Config
	mu      sync.Mutex
	samples []sample
	current int
}

// NewRate returns an empty rate.
func NewRate(cfg Config) *Rate { return &Rate{cfg: cfg.withDefaults()} }

// withDefaults is cfg with Kafka's defaults for unset values.
func (cfg Config) withDefaults() Config {
	if cfg.WindowNum < 1 {
		cfg.WindowNum = DefaultWindowNum
	}
	if cfg.WindowSize <= 0 {
		cfg.WindowSize = DefaultWindowSize
	}
	return cfg
}

func (r *Rate) windowMs() int64 { return r.cfg.WindowSize.Milliseconds() }

func (r *Rate) currentLocked(now int64) *sample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{startMs: now, lastEvent: now})
	}
	return &r.samples[r.current]
}

// Record adds value (bytes) at now.
func (r *Rate) Record(value float64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(value, now.UnixMilli())
}

func (r *Rate) recordLocked(value float64, now int64) {
	s := r.currentLocked(now)
	if now-s.startMs >= r.windowMs() {
		r.current = (r.current + 1) % (r.cfg.WindowNum + 1)
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, sample{startMs: now, lastEvent: now})
		} else {
			r.samples[r.current] = sample{startMs: now, lastEvent: now}
		}
		s = &r.samples[r.current]
	}
	s.value += value
	s.events++
	s.lastEvent = now
}

func (r *Rate) purgeLocked(now int64) {
	expire := int64(r.cfg.WindowNum) * r.windowMs()
	for i := range r.samples {
		if now-r.samples[i].lastEvent >= expire {
			r.samples[i] = sample{startMs: now, lastEvent: now}
		}
	}
}

// windowSizeLocked is Rate.windowSize in milliseconds.
func (r *Rate) windowSizeLocked(now int64) int64 {
	r.purgeLocked(now)
	oldest := r.currentLocked(now).startMs
	for _, s := range r.samples {
		oldest = min(oldest, s.startMs)
	}
	elapsed := now - oldest
	full := elapsed / r.windowMs()
	if minFull := int64(r.cfg.WindowNum - 1); full < minFull {
		elapsed += (minFull - full) * r.windowMs()
	}
	return max(elapsed, 1)
}

func (r *Rate) measureLocked(now int64) (perSec float64, windowMs int64) {
	r.purgeLocked(now)
	var total float64
	for _, s := range r.samples {
		total += s.value
	}
	windowMs = r.windowSizeLocked(now)
	return total / (float64(windowMs) / 1000), windowMs
}

// Measure returns the rate per second at now.
func (r *Rate) Measure(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, _ := r.measureLocked(now.UnixMilli())
	return v
}

// RecordAndThrottle records value at now and returns how long the client
// must be throttled for the rate to come back to bound (bytes per second),
// as ClientQuotaManager.recordAndGetThrottleTimeMs does: zero while the
// rate is within the bound, else (rate - bound) / bound × window span,
// rounded to the millisecond. A bound of +Inf or below zero never
// throttles.
func (r *Rate) RecordAndThrottle(value, bound float64, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := now.UnixMilli()
	r.recordLocked(value, ms)
	if math.IsInf(bound, 1) || bound < 0 {
		return 0
	}
	rate, window := r.measureLocked(ms)
	if rate <= bound {
		return 0
	}
	if bound == 0 {
		// Kafka's arithmetic divides by the bound; a zero quota throttles
		// for the whole monitored span.
		return time.Duration(int64(r.cfg.WindowNum)*r.windowMs()) * time.Millisecond
	}
	return time.Duration(math.Round((rate-bound)/bound*float64(window))) * time.Millisecond
}
