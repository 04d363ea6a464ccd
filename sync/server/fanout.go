package server

import (
	"context"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
)

// Broadcaster carries "the log head is now N" between the pushes that commit changes and the
// fan-out that feeds streams. Publish must never block on slow receivers. Local is the
// in-process implementation; a Redis one lets hub replicas wake each other.
type Broadcaster interface {
	// Publish announces that changes up to head are committed.
	Publish(ctx context.Context, head int64) error
	// Subscribe returns a channel of announced heads (coalesced: a receiver that falls behind
	// sees the latest), closed when ctx ends.
	Subscribe(ctx context.Context) (<-chan int64, error)
}

// Local is an in-process Broadcaster.
type Local struct {
	mu   sync.Mutex
	subs map[chan int64]struct{}
}

// NewLocal returns an empty in-process broadcaster.
func NewLocal() *Local { return &Local{subs: map[chan int64]struct{}{}} }

// Publish hands head to every subscriber, replacing an unread older head.
func (l *Local) Publish(_ context.Context, head int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		select {
		case ch <- head:
		default:
			select { // replace the stale value with the newer head
			case old := <-ch:
				ch <- max(old, head)
			default:
				ch <- head
			}
		}
	}
	return nil
}

// Subscribe registers a receiver until ctx ends.
func (l *Local) Subscribe(ctx context.Context) (<-chan int64, error) {
	ch := make(chan int64, 1)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		delete(l.subs, ch)
		close(ch)
		l.mu.Unlock()
	}()
	return ch, nil
}

// delta is a run of the log, (from, upTo], all zones, in seq order.
type delta struct {
	changes []domain.Change
	upTo    int64
}

// subscriber is one stream's mailbox.
type subscriber struct {
	ch      chan delta
	dropped chan struct{} // closed when the fan-out gave up on a full mailbox
	once    sync.Once
}

func (s *subscriber) drop() { s.once.Do(func() { close(s.dropped) }) }

// fanout reads each new run of the log once and hands it to every stream without blocking:
// a stream whose mailbox is full is dropped (it resumes from its cursor).
type fanout struct {
	h    *Handler
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	pos  int64 // every change up to pos has been handed out
	init bool
}

// subscribe registers a stream and returns its mailbox and the position from which the
// mailbox will carry every change.
func (f *fanout) subscribe() (*subscriber, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &subscriber{ch: make(chan delta, f.h.SubscriberBuffer), dropped: make(chan struct{})}
	f.subs[s] = struct{}{}
	return s, f.pos
}

func (f *fanout) unsubscribe(s *subscriber) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

// run dispatches on every wake-up and poll tick until ctx ends.
func (f *fanout) run(ctx context.Context) {
	wake, err := f.h.Broadcaster.Subscribe(ctx)
	if err != nil {
		f.h.Logger.Error("subscribe to broadcaster; streams fall back to polling", logKeyError, err)
	}
	f.mu.Lock()
	head, err := f.h.Store.LastSeq(ctx)
	if err == nil {
		f.pos, f.init = head, true
	}
	f.mu.Unlock()
	tick := time.NewTicker(f.h.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wake:
			if !ok {
				wake = nil
			}
		case <-tick.C:
		}
		if err := f.dispatch(ctx); err != nil && ctx.Err() == nil {
			f.h.Logger.Warn("fan-out read of the log failed", logKeyError, err)
		}
	}
}

// dispatch hands every change after pos to the subscribers.
func (f *fanout) dispatch(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.init {
		head, err := f.h.Store.LastSeq(ctx)
		if err != nil {
			return err
		}
		f.pos, f.init = head, true
		return nil
	}
	for {
		page, err := f.h.Store.ListChanges(ctx, f.pos, nil, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		d := delta{changes: page, upTo: page[len(page)-1].Seq}
		for s := range f.subs {
			select {
			case s.ch <- d:
			default:
				delete(f.subs, s)
				s.drop()
				slowSubscribers.Inc()
			}
		}
		f.pos = d.upTo
		if len(page) < 1000 {
			return nil
		}
	}
}
