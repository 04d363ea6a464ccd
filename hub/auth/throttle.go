package auth

import (
	"context"
	"sync"
	"time"
)

// Throttle counts failed logins per key (a username or a client IP) and locks a key out after
// too many. It is an interface so that hub replicas can share counts through Redis; the
// in-process MemoryThrottle is the embedded default.
type Throttle interface {
	// Check returns how long key is still locked out, 0 if it may try now.
	Check(ctx context.Context, key string) (time.Duration, error)
	// Fail records a failed attempt and returns the lockout it caused (0 if none yet).
	Fail(ctx context.Context, key string) (time.Duration, error)
	// Reset forgets key's failures (after a successful login).
	Reset(ctx context.Context, key string) error
}

// MemoryThrottle is an in-process Throttle. After MaxFailures failures within Window a key is
// locked for BaseLockout, doubling with every further failure up to MaxLockout. Failures older
// than Window are forgotten, so a user who mistypes now and then is never locked out. Memory is
// bounded: at most MaxKeys keys are tracked, expired ones are pruned first.
type MemoryThrottle struct {
	MaxFailures int
	Window      time.Duration
	BaseLockout time.Duration
	MaxLockout  time.Duration
	MaxKeys     int
	Now         func() time.Time

	mu   sync.Mutex
	keys map[string]*throttleEntry
}

type throttleEntry struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

var _ Throttle = (*MemoryThrottle)(nil)

// NewMemoryThrottle returns a throttle that locks a key after maxFailures failures within 15
// minutes, for 1 s doubling up to 15 minutes.
func NewMemoryThrottle(maxFailures int) *MemoryThrottle {
	return &MemoryThrottle{
		MaxFailures: maxFailures,
		Window:      15 * time.Minute,
		BaseLockout: time.Second,
		MaxLockout:  15 * time.Minute,
		MaxKeys:     100_000,
		Now:         time.Now,
		keys:        map[string]*throttleEntry{},
	}
}

// Check implements Throttle.
func (m *MemoryThrottle) Check(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(key, false)
	if e == nil {
		return 0, nil
	}
	return max(0, e.lockedUntil.Sub(m.Now())), nil
}

// Fail implements Throttle.
func (m *MemoryThrottle) Fail(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Now()
	e := m.entry(key, true)
	e.failures++
	e.last = now
	if over := e.failures - m.MaxFailures; over >= 0 {
		d := m.BaseLockout << min(over, 30)
		if d <= 0 || d > m.MaxLockout {
			d = m.MaxLockout
		}
		e.lockedUntil = now.Add(d)
		return d, nil
	}
	return 0, nil
}

// Reset implements Throttle.
func (m *MemoryThrottle) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
	return nil
}

// entry returns key's live entry, forgetting it if it went stale; create adds a missing one.
// m.mu must be held.
func (m *MemoryThrottle) entry(key string, create bool) *throttleEntry {
	now := m.Now()
	e := m.keys[key]
	if e != nil && m.stale(e, now) {
		delete(m.keys, key)
		e = nil
	}
	if e == nil && create {
		if len(m.keys) >= m.MaxKeys {
			m.prune(now)
		}
		e = &throttleEntry{}
		m.keys[key] = e
	}
	return e
}

func (m *MemoryThrottle) stale(e *throttleEntry, now time.Time) bool {
	return now.Sub(e.last) > m.Window && !now.Before(e.lockedUntil)
}

// prune drops stale entries, and if that frees nothing, the unlocked entries, so that a flood
// of random usernames cannot grow memory without bound.
func (m *MemoryThrottle) prune(now time.Time) {
	for k, e := range m.keys {
		if m.stale(e, now) {
			delete(m.keys, k)
		}
	}
	if len(m.keys) < m.MaxKeys {
		return
	}
	for k, e := range m.keys {
		if !now.Before(e.lockedUntil) {
			delete(m.keys, k)
		}
	}
}
