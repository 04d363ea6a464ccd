package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/snapshot"
	"github.com/aiff/aiff/sync/wire"
)

// ProblemBehindHorizon is the problem type of a pull or stream from a cursor below the hub's
// compacted history: the replica must re-bootstrap from a snapshot (sync/PROTOCOL.md §9.5).
const ProblemBehindHorizon = "https://aiff.dev/problems/cursor-behind-horizon"

// BehindHorizon reports whether err is the hub telling the replica to re-bootstrap.
func BehindHorizon(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == ProblemBehindHorizon
}

// SnapshotStore is a replica that can bootstrap from a snapshot: it loads the snapshot beside
// the state it serves and switches to it atomically. The Syncer bootstraps such a replica
// when it is new (cursor 0), when a bootstrap is in progress, and when the hub says its cursor
// is behind the compacted history.
type SnapshotStore interface {
	// BootstrapState returns the state stored by the last StageSnapshot, nil when no
	// bootstrap is in progress.
	BootstrapState(ctx context.Context) ([]byte, error)
	// StageSnapshot stores verified rows beside the served state, with state, in one
	// transaction; reset first discards everything staged before.
	StageSnapshot(ctx context.Context, reset bool, rows []snapshot.Row, state []byte) error
	// SwitchSnapshot replaces the served rows with the staged ones in one transaction: zones
	// become the scope and cursor the pull cursor, unsynced local changes are applied on top
	// (still pending), and the bootstrap state is cleared.
	SwitchSnapshot(ctx context.Context, zones []string, cursor int64) error
}

// SnapshotPreparer is a SnapshotStore that can start its own work on a chunk's rows (encoding
// them for its tables) before the chunk is staged. Bootstrap prepares each chunk while the one
// before it is staged, so that work runs on the cores the staging transaction leaves idle.
type SnapshotPreparer interface {
	// PrepareSnapshot starts the work on rows and returns stage, which stages them exactly as
	// StageSnapshot(ctx, reset, rows, state) would, and cancel, which stops the work of rows
	// never staged. Each is called at most once; cancel may follow stage.
	PrepareSnapshot(rows []snapshot.Row) (stage func(ctx context.Context, reset bool, state []byte) error, cancel func())
}

// SnapshotQuery selects a snapshot stream (GET /api/sync/snapshot).
type SnapshotQuery struct {
	// Zones limits the snapshot to these zones of the caller's scope (nil: all of it).
	Zones []string
	// After asks for the rows after this key only ("entity/id"; resuming by key).
	After string
	// Offset > 0 with IfRange asks for the bytes of the stream named by the ETag IfRange from
	// Offset on (resuming by range); the hub answers the whole current stream if it changed.
	Offset  int64
	IfRange string
}

// SnapshotBody is an open snapshot stream; the caller closes it.
type SnapshotBody struct {
	io.ReadCloser
	// ETag names the stream (for a range request later).
	ETag string
	// Partial: the hub answered the range asked for (206), not the whole stream.
	Partial bool
}

// Snapshot opens a snapshot stream. The body is the raw stream: read it with snapshot.Reader
// (or snapshot.Resume for a Partial answer).
func (c *Client) Snapshot(ctx context.Context, sq SnapshotQuery) (*SnapshotBody, error) {
	q := url.Values{}
	if len(sq.Zones) > 0 {
		zs := ""
		for i, z := range sq.Zones {
			if i > 0 {
				zs += ","
			}
			zs += z
		}
		q.Set("zones", zs)
	}
	if sq.After != "" {
		q.Set("after", sq.After)
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/api/sync/snapshot", q, nil)
	if err != nil {
		return nil, err
	}
	if sq.Offset > 0 && sq.IfRange != "" {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(sq.Offset, 10)+"-")
		req.Header.Set("If-Range", sq.IfRange)
	}
	resp, err := c.do("snapshot", req)
	if err != nil {
		return nil, err
	}
	return &SnapshotBody{ReadCloser: resp.Body, ETag: resp.Header.Get("ETag"), Partial: resp.StatusCode == http.StatusPartialContent}, nil
}

// BootstrapOptions tune Bootstrap. Zero fields take defaults.
type BootstrapOptions struct {
	// Zones limits the snapshot (nil: the credential's whole scope).
	Zones []string
	// Limits bound what the snapshot reader accepts (zero: snapshot.DefaultLimits).
	Limits snapshot.Limits
	// MaxFailures is how many failed attempts in a row, without a verified chunk in between,
	// end Bootstrap with the last error (default 8). The state stays stored: the next
	// Bootstrap resumes.
	MaxFailures int
	// MinBackoff, MaxBackoff bound the wait between attempts (defaults 1 s and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// StageRows is about how many rows one local transaction stages (default 2048; whole
	// chunks, so at least one chunk's rows).
	StageRows int
	// OnChunk, if set, is called after each staging transaction with its checkpoint (tests).
	OnChunk func(cp snapshot.Checkpoint)
}

// bootstrapState is what a replica stores with every staged chunk: enough to resume the
// download after a cut or a restart.
type bootstrapState struct {
	// Checkpoint is the reader's position in the stream being read.
	Checkpoint snapshot.Checkpoint `json:"checkpoint"`
	// ETag names that stream, for a range request ("" if the hub sent none).
	ETag string `json:"etag"`
	// Zones are the first stream's zones: the scope the rows are of.
	Zones []string `json:"zones"`
	// Cursor is the lowest cursor of the streams the rows came from (resuming by key may
	// give a later one): the replica pulls from it.
	Cursor int64 `json:"cursor"`
	// RangeFailed is set when the bytes of a range request did not continue the stream:
	// resume by key from then on.
	RangeFailed bool `json:"range_failed,omitempty"`
}

// Bootstrap downloads the snapshot of the caller's scope into st and switches st to it,
// resuming a download in progress (st.BootstrapState), and returns the cursor to pull the log
// from. The stream is read chunk by chunk; each verified chunk is staged with the checkpoint
// in one transaction. After a cut at any byte it resumes from the checkpoint: with an HTTP
// Range request on the stream's ETag, or, when the hub's stream changed or the range did not
// verify, with after=<last key> (keeping the lower cursor). A header that does not verify,
// or a resumed stream that does not continue the checkpoint, starts over.
func (c *Client) Bootstrap(ctx context.Context, st SnapshotStore, opt BootstrapOptions) (int64, error) {
	if opt.MaxFailures <= 0 {
		opt.MaxFailures = 8
	}
	bo := Backoff{Min: opt.MinBackoff, Max: opt.MaxBackoff}
	var bs *bootstrapState
	if b, err := st.BootstrapState(ctx); err != nil {
		return 0, fmt.Errorf("read bootstrap state: %w", err)
	} else if len(b) > 0 {
		bs = &bootstrapState{}
		if err := json.Unmarshal(b, bs); err != nil {
			c.logger().Warn("stored bootstrap state unreadable; starting over", "error", err)
			bs = nil
		}
	}
	failures := 0
	for {
		if bs != nil && bs.Checkpoint.Complete {
			if err := st.SwitchSnapshot(ctx, bs.Zones, bs.Cursor); err != nil {
				return 0, fmt.Errorf("switch to the snapshot: %w", err)
			}
			return bs.Cursor, nil
		}
		next, progressed, err := c.bootstrapOnce(ctx, st, bs, opt)
		bs = next
		if err == nil {
			continue // complete: switch above
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if progressed {
			failures = 0
			bo.Reset()
		}
		failures++
		var e *Error
		if failures >= opt.MaxFailures || (errors.As(err, &e) && !Retryable(err)) {
			return 0, fmt.Errorf("bootstrap from snapshot: %w", err)
		}
		wait := max(bo.Next(), RetryAfter(err))
		c.logger().Warn("snapshot download cut; resuming", "error", err, "retry_in", wait, "rows", rowsOf(bs))
		if !sleep(ctx, wait) {
			return 0, ctx.Err()
		}
	}
}

func rowsOf(bs *bootstrapState) int64 {
	if bs == nil {
		return 0
	}
	return bs.Checkpoint.Rows
}

// bootstrapOnce opens one stream (whole, by range, or by key, from bs) and stages its chunks
// until it ends or fails. It returns the state to go on from, whether rows were staged, and
// nil once the trailer verified. Reading and verifying run on their own goroutine, ahead of
// the local transactions, which take StageRows rows at a time.
func (c *Client) bootstrapOnce(ctx context.Context, st SnapshotStore, bs *bootstrapState, opt BootstrapOptions) (*bootstrapState, bool, error) {
	rd, body, bs, err := c.openSnapshot(ctx, st, bs, opt)
	if err != nil {
		return bs, false, err
	}
	type item struct {
		rows []snapshot.Row
		cp   snapshot.Checkpoint
		err  error
	}
	items := make(chan item, 8)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ch, err := rd.Next()
			select {
			case items <- item{rows: ch.Rows, cp: rd.Checkpoint(), err: err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		body.Close() // unblocks a read in progress
		<-done
	}()
	stageRows := opt.StageRows
	if stageRows <= 0 {
		stageRows = 2048
	}
	progressed := false
	var pend []snapshot.Row
	var pendCP snapshot.Checkpoint
	// ahead is the chunk prepared and not yet staged (SnapshotPreparer): it is staged when the
	// next chunk has been prepared, or before anything else is staged or returned.
	type prepared struct {
		stage  func(ctx context.Context, reset bool, state []byte) error
		cancel func()
		cp     snapshot.Checkpoint
		rows   int
	}
	var ahead *prepared
	defer func() {
		if ahead != nil {
			ahead.cancel()
		}
	}()
	stageAhead := func() error {
		if ahead == nil {
			return nil
		}
		p := ahead
		ahead = nil
		defer p.cancel()
		bs.Checkpoint = p.cp
		b, err := json.Marshal(bs)
		if err != nil {
			return fmt.Errorf("encode bootstrap state: %w", err)
		}
		if err := p.stage(ctx, false, b); err != nil {
			return fmt.Errorf("stage snapshot rows: %w", err)
		}
		progressed = true
		if opt.OnChunk != nil {
			opt.OnChunk(bs.Checkpoint)
		}
		return nil
	}
	prep, canPrepare := st.(SnapshotPreparer)
	flush := func(force bool) error {
		if len(pend) > 0 && !force && canPrepare {
			// Start this chunk's work, then stage the one before it meanwhile.
			stage, cancel := prep.PrepareSnapshot(pend)
			next := &prepared{stage: stage, cancel: cancel, cp: pendCP, rows: len(pend)}
			pend = nil // the store holds these rows now
			err := stageAhead()
			ahead = next
			return err
		}
		if err := stageAhead(); err != nil {
			return err
		}
		if len(pend) == 0 && !force {
			return nil
		}
		bs.Checkpoint = pendCP
		if err := c.stage(ctx, st, false, pend, bs); err != nil {
			return err
		}
		if len(pend) > 0 {
			progressed = true
			if opt.OnChunk != nil {
				opt.OnChunk(bs.Checkpoint)
			}
		}
		pend = pend[:0]
		return nil
	}
	for it := range items {
		if errors.Is(it.err, io.EOF) {
			pendCP = it.cp // complete
			return bs, progressed, flush(true)
		}
		if it.err != nil {
			// Keep what was verified before the failure.
			if err := flush(false); err != nil {
				return bs, progressed, err
			}
			if err := stageAhead(); err != nil {
				return bs, progressed, err
			}
			var ce *snapshot.ChecksumError
			if errors.As(it.err, &ce) || domain.ErrorCode(it.err) == domain.CodeInvalid || domain.ErrorCode(it.err) == domain.CodeTooLarge {
				// These bytes do not continue the stream (it changed under a range request,
				// or was damaged): resume by key from what is verified.
				bs.RangeFailed = true
			}
			return bs, progressed, it.err
		}
		pend, pendCP = append(pend, it.rows...), it.cp
		if len(pend) >= stageRows {
			if err := flush(false); err != nil {
				return bs, progressed, err
			}
		}
	}
	return bs, progressed, ctx.Err() // cancelled: a prepared chunk is dropped, not staged
}

func (c *Client) stage(ctx context.Context, st SnapshotStore, reset bool, rows []snapshot.Row, bs *bootstrapState) error {
	b, err := json.Marshal(bs)
	if err != nil {
		return fmt.Errorf("encode bootstrap state: %w", err)
	}
	if err := st.StageSnapshot(ctx, reset, rows, b); err != nil {
		return fmt.Errorf("stage snapshot rows: %w", err)
	}
	return nil
}

// openSnapshot opens the stream to read next and returns its reader and the state it goes on
// from: a whole new stream (bs nil; staged rows discarded), the rest of bs's stream by range,
// or the rows after bs's last key.
func (c *Client) openSnapshot(ctx context.Context, st SnapshotStore, bs *bootstrapState, opt BootstrapOptions) (*snapshot.Reader, io.Closer, *bootstrapState, error) {
	if bs != nil && !bs.RangeFailed && bs.ETag != "" && bs.Checkpoint.Offset > 0 {
		body, err := c.Snapshot(ctx, SnapshotQuery{Zones: opt.Zones, Offset: bs.Checkpoint.Offset, IfRange: bs.ETag})
		if err != nil {
			return nil, nil, bs, err
		}
		if body.Partial {
			rd, err := snapshot.Resume(body, bs.Checkpoint, opt.Limits)
			if err != nil {
				body.Close()
				return nil, nil, nil, err // a checkpoint the reader refuses: start over
			}
			return rd, body, bs, nil
		}
		// The hub's snapshot changed since: keep the verified rows, go on by key.
		body.Close()
		bs.RangeFailed = true
	}
	if bs != nil && bs.Checkpoint.Last != "" {
		body, err := c.Snapshot(ctx, SnapshotQuery{Zones: opt.Zones, After: bs.Checkpoint.Last})
		if err != nil {
			return nil, nil, bs, err
		}
		rd, err := snapshot.NewReader(body, opt.Limits)
		if err == nil {
			err = bs.Checkpoint.Continues(rd.Header())
		}
		if err != nil {
			body.Close()
			c.logger().Warn("resumed snapshot does not continue the staged rows; starting over", "error", err)
			return nil, nil, nil, err
		}
		bs = &bootstrapState{Checkpoint: rd.Checkpoint(), ETag: body.ETag, Zones: bs.Zones, Cursor: min(bs.Cursor, rd.Header().Cursor)}
		// The staged rows stay; the state now follows the new stream.
		if err := c.stage(ctx, st, false, nil, bs); err != nil {
			body.Close()
			return nil, nil, bs, err
		}
		return rd, body, bs, nil
	}
	body, err := c.Snapshot(ctx, SnapshotQuery{Zones: opt.Zones})
	if err != nil {
		return nil, nil, nil, err
	}
	rd, err := snapshot.NewReader(body, opt.Limits)
	if err != nil {
		body.Close()
		return nil, nil, nil, err
	}
	h := rd.Header()
	bs = &bootstrapState{Checkpoint: rd.Checkpoint(), ETag: body.ETag, Zones: h.Zones, Cursor: h.Cursor}
	if err := c.stage(ctx, st, true, nil, bs); err != nil {
		body.Close()
		return nil, nil, nil, err
	}
	return rd, body, bs, nil
}

// bootstrap runs Bootstrap on a replica that is a SnapshotStore when it needs one: a
// download is in progress, the replica is new (cursor 0), or force (the hub said its cursor
// is behind the compacted history). A hub that serves no snapshots (404) leaves a new replica
// to pull the log from 0. It reports whether the replica was switched to a snapshot.
func (s *Syncer) bootstrap(ctx context.Context, force bool) (bool, error) {
	st, ok := s.Replica.(SnapshotStore)
	if !ok {
		return false, nil
	}
	if !force {
		state, err := st.BootstrapState(ctx)
		if err != nil {
			return false, fmt.Errorf("read bootstrap state: %w", err)
		}
		cur, err := s.Replica.Cursor(ctx)
		if err != nil {
			return false, fmt.Errorf("read cursor: %w", err)
		}
		if state == nil && cur > 0 {
			return false, nil
		}
	}
	start := time.Now()
	cursor, err := s.Client.Bootstrap(ctx, st, BootstrapOptions{MinBackoff: s.MinBackoff, MaxBackoff: s.MaxBackoff})
	if err != nil {
		var e *Error
		if !force && errors.As(err, &e) && e.Status == http.StatusNotFound {
			s.logger().Warn("the hub serves no snapshots; pulling the whole log", "error", err)
			return false, nil
		}
		return false, err
	}
	s.contact(cursor)
	s.logger().Info("bootstrapped from a snapshot", "cursor", cursor, "millis", time.Since(start).Milliseconds())
	s.Notify() // carried-forward local changes are still pending
	return true, nil
}

// BootstrapHeader tells the hub this replica can bootstrap from a snapshot, so a pull from
// a cursor behind the compacted history is answered ProblemBehindHorizon (server side:
// sync/server.BootstrapHeader).
const BootstrapHeader = "AIFF-Bootstrap"

// pull pulls one page, announcing BootstrapHeader when the replica is a SnapshotStore.
func (s *Syncer) pull(ctx context.Context, cursor int64, limit int) (*wire.PullResponse, error) {
	if _, ok := s.Replica.(SnapshotStore); ok {
		return s.Client.pull(ctx, cursor, limit, http.Header{BootstrapHeader: {"snapshot"}})
	}
	return s.Client.Pull(ctx, cursor, limit)
}
