package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

// Backoff is exponential backoff with full jitter: the n-th consecutive failure waits a random
// duration in [d/2, d], d = min(Max, Min·2ⁿ). The zero value uses 1 s and 30 s (PROTOCOL.md §5).
type Backoff struct {
	Min, Max time.Duration
	n        int
	cut      bool // the last wait was cut short by the other loop reaching the hub (waitRetry)
}

// Next returns the wait before the next attempt and counts a failure.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.n++
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.n, b.cut = 0, false }

// Outbox is what the push loop needs from a replica's store.
type Outbox interface {
	// Pending returns up to limit unacknowledged changes in the order they were made.
	Pending(ctx context.Context, limit int) ([]domain.Change, error)
	// PendingAfter is Pending for the changes made after the one with id after (none if
	// that change is unknown): the push loop reads the next batch with it while a push is
	// in flight.
	PendingAfter(ctx context.Context, after string, limit int) ([]domain.Change, error)
	// RecordPush stores the hub's results for batch (ack, clamp, dead-letter) in one
	// transaction, and feeds res.HLC to the replica's clock.
	RecordPush(ctx context.Context, batch []domain.Change, res *wire.PushResponse) error
	// DeadLetter sets aside a change the hub refuses whatever happens, with the reason, so the
	// changes behind it can go.
	DeadLetter(ctx context.Context, c domain.Change, code domain.Code, reason string) error
	// PushFailed records a failed attempt (for health); it may do nothing.
	PushFailed(ctx context.Context, batch []domain.Change, reason string) error
}

// Replica is what the pull/stream loop needs from a replica's store.
type Replica interface {
	// Cursor is the hub log position the replica has durably applied through.
	Cursor(ctx context.Context) (int64, error)
	// ApplyRemote applies changes from the hub's log and stores cursor, in one transaction.
	ApplyRemote(ctx context.Context, changes []domain.Change, cursor int64) error
}

// Resetter is implemented by replicas that can start over from cursor 0, keeping their
// unacknowledged local changes. The syncer resets a replica whose cursor is beyond the hub's
// log head: its state came from another hub database (a restored backup, a new hub), and
// only a full re-pull makes it right again (PROTOCOL.md §5).
type Resetter interface {
	Reset(ctx context.Context) error
}

// Syncer keeps a replica in sync with the hub: Run pushes the outbox and streams the hub's
// changes until its context ends, reconnecting forever. Set the fields before Run.
type Syncer struct {
	Client  *Client
	Node    string // the replica's node id (push frames' node)
	Outbox  Outbox
	Replica Replica
	Logger  *slog.Logger
	// BatchSize is the most changes per push (default and most: the wire limit, 1000).
	BatchSize int
	// PullLimit is the page size of the initial catch-up pull (default 1000).
	PullLimit int
	// IdleTimeout is how long a silent stream is trusted (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Backoff bounds (defaults 1 s and 30 s). Tests set them small.
	MinBackoff, MaxBackoff time.Duration
	// OnApplied is called after remote changes were applied (may be nil).
	OnApplied func(changes []domain.Change)
	// Scoper keeps the replica within its scope and wipes it on revocation (scope.go); nil:
	// the replica keeps whatever it was sent.
	Scoper Scoper

	stop       context.CancelFunc // ends Run's loops (revocation)
	revokeOnce sync.Once

	wake chan struct{}
	// pushReached and streamReached end the push and the stream loop's wait after a failed
	// connection once the other loop has reached the hub (waitRetry).
	pushReached, streamReached chan struct{}
	once                       sync.Once

	mu     sync.Mutex
	status Status
}

// Status is the syncer's view of its connection to the hub, for health and metrics.
type Status struct {
	// Connected: the stream is open (live after Ready).
	Connected bool `json:"connected"`
	// Ready: the stream has caught up and delivers live changes.
	Ready bool `json:"ready"`
	// HubCursor is the highest hub log position the syncer has heard of (push results,
	// ready and heartbeat frames, pulls).
	HubCursor int64 `json:"hub_cursor"`
	// LastContact is when the hub last answered anything.
	LastContact time.Time `json:"last_contact"`
	// LastPush is when a push last succeeded.
	LastPush time.Time `json:"last_push"`
	// LastError is the most recent failure, "" after a success.
	LastError string `json:"last_error,omitempty"`
	// PushErrors, StreamErrors count failures since start.
	PushErrors   int64 `json:"push_errors"`
	StreamErrors int64 `json:"stream_errors"`
	// Pushed, Applied, DeadLettered count changes since start.
	Pushed       int64 `json:"pushed"`
	Applied      int64 `json:"applied"`
	DeadLettered int64 `json:"dead_lettered"`
	// Revoked is the hub's reason once it refused the credential for good; sync has stopped.
	Revoked string `json:"revoked,omitempty"`
	// ClockWarning is set when the hub's heartbeat time differs from ours by more than the
	// skew bound: this node's clock is wrong.
	ClockWarning string `json:"clock_warning,omitempty"`
}

func (s *Syncer) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		s.pushReached = make(chan struct{}, 1)
		s.streamReached = make(chan struct{}, 1)
	})
}

// Notify wakes the push loop: call it after a local write. It never blocks.
func (s *Syncer) Notify() {
	s.init()
	signal(s.wake)
}

// signal wakes whoever waits on ch (a channel with a buffer of one) without blocking: a
// signal nobody has taken yet stands for any number of them.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of the sync state.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Syncer) update(fn func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.status)
}

// contact records an answer the stream loop had from the hub.
func (s *Syncer) contact(cursor int64) {
	s.update(func(st *Status) {
		st.LastContact = time.Now()
		st.HubCursor = max(st.HubCursor, cursor)
	})
	signal(s.pushReached)
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run pushes and streams until ctx ends; it returns ctx's error. Both loops retry every
// failure with backoff, so Run does not stop on its own.
func (s *Syncer) Run(ctx context.Context) error {
	s.init()
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.stop = cancel
	s.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.pushLoop(ctx) }()
	go func() { defer wg.Done(); s.streamLoop(ctx) }()
	wg.Wait()
	if s.Revoked() != "" {
		return ErrRevoked
	}
	return outer.Err()
}

func sleep(ctx context.Context, d time.Duration) bool {
	ok, _ := sleepOrWake(ctx, d, nil)
	return ok
}

// sleepOrWake waits d, or until wake is signalled (never, if wake is nil; woken says which);
// ok is false if ctx ended first.
func sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) (ok, woken bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-t.C:
		return true, false
	case <-wake:
		return true, true
	}
}

// waitRetry waits d, from bo, before a loop tries again after err. If err is a failure to
// connect to the hub, the wait also ends as soon as the other loop reaches the hub (reached
// is signalled then): after an outage the push and the stream loop each back off on their
// own, up to MaxBackoff (30 s by default), and the edge's catch-up should start when the
// first of them gets through, not wait out the other's timer. Only one wait in a row is cut
// short: if the early attempt cannot connect either (the hub answers the other loop but not
// this one), the loop backs off fully until bo is Reset by a success. Any other failure (the
// hub answered 429 or 5xx, refused the stream) keeps its whole wait: the hub being reachable
// does not fix it.
func waitRetry(ctx context.Context, bo *Backoff, d time.Duration, err error, reached chan struct{}) bool {
	if !connectFailed(err) || bo.cut {
		return sleep(ctx, d)
	}
	// A contact from before this failure says nothing about the hub now.
	select {
	case <-reached:
	default:
	}
	ok, woken := sleepOrWake(ctx, d, reached)
	bo.cut = woken
	return ok
}

// connectFailed reports whether err is a failure to open a connection to the hub (refused,
// unreachable, no route): the hub was not there, rather than answering badly.
func connectFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// pushLoop sends the outbox in batches whenever it is woken (and every 5 s as a safety net).
func (s *Syncer) pushLoop(ctx context.Context) {
	bo := Backoff{Min: s.MinBackoff, Max: s.MaxBackoff}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		n, err := s.drain(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case s.checkRevoked(ctx, err):
			return
		case err != nil:
			wait := max(bo.Next(), RetryAfter(err))
			s.logger().Warn("push failed", "error", err, "retry_in", wait)
			if !waitRetry(ctx, &bo, wait, err, s.pushReached) {
				return
			}
			continue
		case n > 0:
			bo.Reset()
			continue // more may be waiting
		}
		bo.Reset()
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// PushOnce pushes one batch of pending changes and records the results. It returns how many
// changes it settled (acknowledged or dead-lettered); 0 with a nil error means the outbox is
// empty. A whole-batch refusal that retrying cannot fix (400, 403, 409, 413, 422) is narrowed
// down (narrow), so a change the hub refuses is dead-lettered with the hub's reason and never
// blocks the changes behind it. Transport errors, 401, 429 and 5xx are returned for the
// caller to retry with backoff.
func (s *Syncer) PushOnce(ctx context.Context) (int, error) {
	batch, err := s.Outbox.Pending(ctx, s.batchSize())
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	return s.pushPart(ctx, batch)
}

// pushPart pushes batch and records the answer, narrowing the batch down if it is refused.
func (s *Syncer) pushPart(ctx context.Context, batch []domain.Change) (int, error) {
	res, err := s.send(ctx, batch)
	if err != nil {
		return s.narrow(ctx, batch, err)
	}
	if err := s.record(ctx, batch, res); err != nil {
		return 0, err
	}
	return len(batch), nil
}

// drain pushes batches until the outbox is empty, as PushOnce does one. The hub must take a
// node's changes in the order they were made, so only one push is in flight at a time, but
// the edge's own work is done beside it rather than between pushes: the next batch is read
// from the outbox and encoded while the current one is on its way, and each answer is
// recorded while the next batch is pushed. A crash between a push and its record loses
// nothing: the batch is still pending, and pushing it again is answered "duplicate". Any
// failure ends the drain after the record in flight has finished; the loop then starts over
// from the outbox's head.
func (s *Syncer) drain(ctx context.Context) (int, error) {
	size := s.batchSize()
	batch, err := s.Outbox.Pending(ctx, size)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	// The batch after the one in flight, read and encoded; encErr is kept for the batch's
	// turn (a batch too large to encode is then narrowed down like a refused one).
	type readAhead struct {
		next   []domain.Change
		frame  *PushFrame
		encErr error
		err    error
	}
	frame, encErr := s.Client.EncodePush(s.Node, batch)
	settled := 0
	var recording chan error // the previous batch's record, while in flight
	recorded := func() error {
		if recording == nil {
			return nil
		}
		err := <-recording
		recording = nil
		return err
	}
	for len(batch) > 0 {
		ahead := make(chan readAhead, 1)
		last := batch[len(batch)-1].ID
		go func() {
			ra := readAhead{}
			ra.next, ra.err = s.Outbox.PendingAfter(ctx, last, size)
			if ra.err == nil && len(ra.next) > 0 {
				ra.frame, ra.encErr = s.Client.EncodePush(s.Node, ra.next)
			}
			ahead <- ra
		}()
		res, perr := s.sendFrame(ctx, batch, frame, encErr)
		ra := <-ahead
		if err := recorded(); err != nil {
			return settled, err
		}
		if perr != nil {
			n, err := s.narrow(ctx, batch, perr)
			return settled + n, err
		}
		recording = make(chan error, 1)
		go func(batch []domain.Change, res *wire.PushResponse) { recording <- s.record(ctx, batch, res) }(batch, res)
		settled += len(batch)
		if ra.err != nil {
			return settled, errors.Join(ra.err, recorded())
		}
		batch, frame, encErr = ra.next, ra.frame, ra.encErr
	}
	return settled, recorded()
}

// batchSize is the most changes per push: BatchSize, or the wire limit (1000). Big batches
// matter when an edge comes back with a backlog: each push costs the hub a transaction and a
// handful of round trips whatever its size, and the pushes of one edge run one after another.
func (s *Syncer) batchSize() int {
	if s.BatchSize <= 0 || s.BatchSize > wire.DefaultLimits.MaxChanges {
		return wire.DefaultLimits.MaxChanges
	}
	return s.BatchSize
}

// narrow handles err, the failure of pushing batch, and returns how many changes it settled.
// Errors that retrying can fix are returned as they are. A batch too large for the hub (in
// bytes, or in changes) is pushed in halves; any other refusal, one change at a time, until
// the refused change is found. A single refused change is dead-lettered with the reason.
func (s *Syncer) narrow(ctx context.Context, batch []domain.Change, err error) (int, error) {
	var parts [][]domain.Change
	switch {
	case !refusal(err):
		return 0, err
	case len(batch) == 1:
		c := batch[0]
		if derr := s.Outbox.DeadLetter(ctx, c, domain.ErrorCode(err), domain.ErrorMessage(err)); derr != nil {
			return 0, derr
		}
		s.update(func(st *Status) { st.DeadLettered++ })
		s.logger().Warn("change refused by hub; dead-lettered", "change", c.ID, "entity", c.Entity, "entity_id", c.EntityID, "error", err)
		return 1, nil
	case domain.ErrorCode(err) == domain.CodeTooLarge:
		parts = [][]domain.Change{batch[:len(batch)/2], batch[len(batch)/2:]}
	default:
		for i := range batch {
			parts = append(parts, batch[i:i+1])
		}
	}
	settled := 0
	for _, part := range parts {
		n, err := s.pushPart(ctx, part)
		settled += n
		if err != nil {
			return settled, err
		}
	}
	return settled, nil
}

// refusal reports whether the hub refused a push as a whole for a reason that retrying the
// same request cannot fix.
func refusal(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status == 0 {
		// A batch this client cannot even encode, or will not send because the hub would
		// refuse its size, is as refused as one the hub will not take.
		var de *domain.Error
		return errors.As(err, &de) && (de.Code == domain.CodeInvalid || de.Code == domain.CodeTooLarge)
	}
	// Not 404: a hub without the sync endpoints (a wrong URL, an old version) must not make
	// the client throw its outbox away. Not 401, 408, 429: those pass.
	switch e.Status {
	case 400, 403, 409, 413, 422:
		return true
	}
	return false
}

// send pushes batch and counts the outcome in the status; the caller records the answer.
func (s *Syncer) send(ctx context.Context, batch []domain.Change) (*wire.PushResponse, error) {
	f, err := s.Client.EncodePush(s.Node, batch)
	return s.sendFrame(ctx, batch, f, err)
}

// sendFrame is send for batch encoded as f, or not encoded for encErr.
func (s *Syncer) sendFrame(ctx context.Context, batch []domain.Change, f *PushFrame, encErr error) (*wire.PushResponse, error) {
	var res *wire.PushResponse
	err := encErr
	if err == nil {
		res, err = s.Client.SendPush(ctx, f)
	}
	if err != nil {
		s.update(func(st *Status) { st.PushErrors++; st.LastError = err.Error() })
		if ctx.Err() == nil {
			if ferr := s.Outbox.PushFailed(context.WithoutCancel(ctx), batch, err.Error()); ferr != nil {
				s.logger().Warn("record push failure", "error", ferr)
			}
		}
		return nil, err
	}
	var pushed, dead int64
	for _, r := range res.Results {
		if r.Status == wire.Rejected {
			dead++
			s.logger().Warn("change rejected by hub; dead-lettered", "change", r.ID, "code", r.Code, "error", r.Error)
		} else {
			pushed++
		}
	}
	s.update(func(st *Status) {
		st.Pushed += pushed
		st.DeadLettered += dead
		st.LastPush, st.LastContact = time.Now(), time.Now()
		st.HubCursor = max(st.HubCursor, res.Cursor)
		st.LastError = ""
	})
	signal(s.streamReached)
	return res, nil
}

// record stores the hub's answer to a push of batch in the outbox.
func (s *Syncer) record(ctx context.Context, batch []domain.Change, res *wire.PushResponse) error {
	if err := s.Outbox.RecordPush(ctx, batch, res); err != nil {
		return fmt.Errorf("record push results: %w", err)
	}
	return nil
}

// streamLoop catches up with pulls, then streams, reconnecting with backoff forever.
func (s *Syncer) streamLoop(ctx context.Context) {
	bo := Backoff{Min: s.MinBackoff, Max: s.MaxBackoff}
	for {
		err := s.syncScope(ctx)
		if err == nil {
			err = s.catchUp(ctx)
		}
		if err == nil {
			err = s.stream(ctx, &bo)
		}
		s.update(func(st *Status) { st.Connected, st.Ready = false, false })
		if ctx.Err() != nil || s.checkRevoked(ctx, err) {
			return
		}
		s.update(func(st *Status) { st.StreamErrors++; st.LastError = err.Error() })
		wait := max(bo.Next(), RetryAfter(err))
		if !Retryable(err) {
			// A credential problem or a bad cursor needs a person; keep trying, but slowly.
			wait = max(wait, s.maxBackoff())
			s.logger().Error("sync stream refused", "error", err, "retry_in", wait)
		} else {
			s.logger().Warn("sync stream ended", "error", err, "retry_in", wait)
		}
		if !waitRetry(ctx, &bo, wait, err, s.streamReached) {
			return
		}
	}
}

func (s *Syncer) maxBackoff() time.Duration {
	if s.MaxBackoff > 0 {
		return s.MaxBackoff
	}
	return 30 * time.Second
}

// catchUp pulls pages from the stored cursor until the hub says nothing more is waiting.
func (s *Syncer) catchUp(ctx context.Context) error {
	limit := s.PullLimit
	if limit <= 0 {
		limit = 1000
	}
	if _, err := s.bootstrap(ctx, false); err != nil {
		return err
	}
	for {
		cur, err := s.Replica.Cursor(ctx)
		if err != nil {
			return fmt.Errorf("read cursor: %w", err)
		}
		page, err := s.pull(ctx, cur, limit)
		if BehindHorizon(err) {
			s.logger().Warn("the hub compacted history this replica has not seen; re-bootstrapping from a snapshot", "cursor", cur, "error", err)
			if ok, berr := s.bootstrap(ctx, true); berr != nil {
				return berr
			} else if ok {
				continue
			}
		}
		var ce *Error
		if errors.As(err, &ce) && ce.Status == 400 && ce.Field == "cursor" && cur > 0 {
			r, ok := s.Replica.(Resetter)
			if !ok {
				return err
			}
			s.logger().Error("replica cursor is beyond the hub's log; rebuilding from the start", "cursor", cur, "error", err)
			if err := r.Reset(ctx); err != nil {
				return fmt.Errorf("reset replica: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(page.Changes) > 0 || page.NextCursor > cur {
			if err := s.apply(ctx, page.Changes, page.NextCursor); err != nil {
				return err
			}
		}
		s.contact(page.NextCursor)
		if !page.HasMore {
			return nil
		}
	}
}

func (s *Syncer) apply(ctx context.Context, changes []domain.Change, cursor int64) error {
	if err := s.Replica.ApplyRemote(ctx, changes, cursor); err != nil {
		return fmt.Errorf("apply changes through %d: %w", cursor, err)
	}
	s.update(func(st *Status) { st.Applied += int64(len(changes)) })
	if err := s.reconcile(ctx, changes); err != nil {
		return err
	}
	if s.OnApplied != nil && len(changes) > 0 {
		s.OnApplied(changes)
	}
	return nil
}

func (s *Syncer) stream(ctx context.Context, bo *Backoff) error {
	cur, err := s.Replica.Cursor(ctx)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	return s.Client.Stream(ctx, cur, s.IdleTimeout, &streamHandler{s: s, bo: bo})
}

type streamHandler struct {
	s  *Syncer
	bo *Backoff
}

func (h *streamHandler) Changes(ctx context.Context, f *wire.FrameChanges) error {
	if err := h.s.apply(ctx, f.Changes, f.Cursor); err != nil {
		return err
	}
	h.s.contact(f.Cursor)
	return nil
}

func (h *streamHandler) Ready(ctx context.Context, f *wire.FrameReady) error {
	h.bo.Reset()
	h.s.contact(f.Cursor)
	// The stream's scope was fixed when it was accepted; an edit of the edge's zones between
	// the scope check before catch-up and then would otherwise go unnoticed.
	if err := h.s.syncScope(ctx); err != nil {
		return err
	}
	h.s.update(func(st *Status) { st.Connected, st.Ready, st.LastError = true, true, "" })
	h.s.logger().Info("sync stream ready", "cursor", f.Cursor)
	// Changes committed on the hub while the stream was down may include acks for our own
	// pushes; nudge the push loop in case it is waiting.
	h.s.Notify()
	return nil
}

func (h *streamHandler) Heartbeat(ctx context.Context, f *wire.FrameHeartbeat) error {
	// The heartbeat's cursor may pass changes out of scope; storing it is allowed (§5) and
	// keeps the catch-up after a reconnect short.
	cur, err := h.s.Replica.Cursor(ctx)
	if err != nil {
		return err
	}
	if f.Cursor > cur {
		if err := h.s.apply(ctx, nil, f.Cursor); err != nil {
			return err
		}
	}
	h.s.contact(f.Cursor)
	skew := time.Since(f.Time)
	h.s.update(func(st *Status) {
		st.Connected = true
		if skew > hlc.DefaultMaxSkew || -skew > hlc.DefaultMaxSkew {
			st.ClockWarning = fmt.Sprintf("this node's clock differs from the hub's by %s", skew.Round(time.Second))
		} else {
			st.ClockWarning = ""
		}
	})
	return nil
}
