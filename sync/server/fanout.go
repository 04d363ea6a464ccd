package server

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

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
	// frames holds the frames streams built from this run, for streams alike to share
	// (stream.sendDelta).
	frames *sharedFrames
}

// sharedFrames are the encoded changes frames of one delta, one per (read scope, stream
// position). Every edge of a zone, and every dispatcher's dashboard, is sent the same frame
// for the same run of the log, so a hub with many subscribers filters, encodes and
// compresses each run once per scope rather than once per stream.
type sharedFrames struct {
	mu sync.Mutex
	m  map[frameKey]*sharedFrame
}

type frameKey struct {
	scope string // readScope.key
	pos   int64  // the stream's position before the run
}

// sharedFrame is built once, by the first stream to need it.
type sharedFrame struct {
	once sync.Once
	msg  []byte // the websocket message; nil when nothing in the run is in scope
	typ  websocket.MessageType
	n    int // changes in the frame
	err  error
}

func (s *sharedFrames) get(k frameKey) *sharedFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.m[k]
	if f == nil {
		f = &sharedFrame{}
		s.m[k] = f
	}
	return f
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
		d := delta{changes: page, upTo: page[len(page)-1].Seq, frames: &sharedFrames{m: map[frameKey]*sharedFrame{}}}
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
