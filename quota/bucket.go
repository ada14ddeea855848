package quota

import (
	"sync"
	"time"
)

// TokenBucket is Kafka's TokenBucket measurable, as the controller
// mutation quota uses it: it starts full at burst = bound × WindowNum ×
// WindowSize, refills at bound per second up to burst, and a record takes
// its value out, possibly below zero. Safe for concurrent use.
type TokenBucket struct {
	cfg    Config
	mu     sync.Mutex
	tokens float64
	last   time.Time
	init   bool
}

// NewTokenBucket returns a full bucket (filled on first use).
func NewTokenBucket(cfg Config) *TokenBucket { return &TokenBucket{cfg: cfg.withDefaults()} }

func (b *TokenBucket) refillLocked(bound float64, now time.Time) {
	burst := bound * float64(b.cfg.WindowNum) * b.cfg.WindowSize.Seconds()
	if !b.init {
		b.tokens, b.last, b.init = burst, now, true
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+bound*d.Seconds())
		b.last = now
	}
}

// Tokens returns the tokens left at now under bound (per second).
func (b *TokenBucket) Tokens(bound float64, now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(bound, now)
	return b.tokens
}

// Record takes value out at now and returns the tokens left.
func (b *TokenBucket) Record(value, bound float64, now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(bound, now)
	b.tokens -= value
	return b.tokens
}

// Throttle is how long a bucket at tokens takes to come back to zero
// under bound, as ControllerMutationQuotaManager.throttleTimeMs: zero for
// tokens at or above zero.
func Throttle(tokens, bound float64) time.Duration {
	if tokens >= 0 || bound <= 0 {
		return 0
	}
	return time.Duration(-tokens/bound*1000) * time.Millisecond
}
