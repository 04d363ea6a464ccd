package http

import (
	"context"
	"sync"
	"time"
)

// TokenBucket is an in-process RateLimiter: each key gets Burst tokens, refilled at Rate per
// second. Idle keys are forgotten once full again, and at most MaxKeys are tracked, so memory
// stays bounded whatever callers send.
type TokenBucket struct {
	Rate    float64
	Burst   float64
	MaxKeys int
	Now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

var _ RateLimiter = (*TokenBucket)(nil)

// NewTokenBucket returns a limiter allowing rate requests per second per key with bursts of
// burst.
func NewTokenBucket(rate, burst float64) *TokenBucket {
	return &TokenBucket{Rate: rate, Burst: burst, MaxKeys: 100_000, Now: time.Now, buckets: map[string]*bucket{}}
}

// Allow implements RateLimiter.
func (tb *TokenBucket) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	now := tb.Now()
	b := tb.buckets[key]
	if b == nil {
		if len(tb.buckets) >= tb.MaxKeys {
			tb.prune(now)
		}
		b = &bucket{tokens: tb.Burst, last: now}
		tb.buckets[key] = b
	}
	b.tokens = min(tb.Burst, b.tokens+now.Sub(b.last).Seconds()*tb.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, nil
	}
	wait := time.Duration((1 - b.tokens) / tb.Rate * float64(time.Second))
	return false, wait, nil
}

// prune forgets buckets that have refilled (they behave exactly like new ones), and if that is
// not enough, all of them: briefly over-generous beats unbounded memory.
func (tb *TokenBucket) prune(now time.Time) {
	for k, b := range tb.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*tb.Rate >= tb.Burst {
			delete(tb.buckets, k)
		}
	}
	if len(tb.buckets) >= tb.MaxKeys {
		clear(tb.buckets)
	}
}
