package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// catchUpPage is how many changes one catch-up frame carries at most.
const catchUpPage = 500

// binaryOver is the size above which a frame is sent gzipped as a binary message.
const binaryOver = 1024

// handleStream is GET /stream?cursor=C: a WebSocket (subprotocol aiff.sync.v1) that sends
// catch-up frames, a ready frame, then live deltas and idle heartbeats (PROTOCOL.md §5).
func (h *Handler) handleStream(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q, err := query(r, "cursor", "access_token")
	if err != nil {
		return err
	}
	if !offers(r, wire.Subprotocol) {
		return domain.FieldErrorf("Sec-WebSocket-Protocol", "a stream client must offer the websocket subprotocol %s", wire.Subprotocol)
	}
	sc, err := h.readScopeOf(r.Context(), p)
	if err != nil {
		return err
	}
	cursor, _, err := h.cursorParam(r.Context(), q)
	if err != nil {
		return err
	}
	if err := h.noteCursor(r.Context(), p, sc, cursor); err != nil {
		return err
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		return nil // Accept has answered the client
	}
	conn.SetReadLimit(64 << 10)
	h.wg.Add(1)
	defer h.wg.Done()
	wsConnections.Inc()
	defer wsConnections.Dec()
	st := &stream{h: h, conn: conn, p: p, sc: sc, pos: cursor, token: bearer(r), kicked: make(chan *closeErr, 1)}
	if isEdge(p) {
		h.edgeStreams.add(st)
		defer h.edgeStreams.remove(st)
	}
	st.run(r.Context())
	return nil
}

// offers reports whether the client offered subprotocol proto.
func offers(r *http.Request, proto string) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}

// bearer returns the token the request authenticated with (header or access_token).
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		_, tok, _ := strings.Cut(h, " ")
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("access_token")
}

// stream is one subscriber's connection.
type stream struct {
	h     *Handler
	conn  *websocket.Conn
	p     domain.Principal
	sc    readScope
	pos   int64 // every change in scope up to pos has been sent
	token string
	last  time.Time // when a frame was last sent
	// kicked receives why the stream must end now (the edge's credential changed).
	kicked chan *closeErr
}

// closeErr is why a stream ends: the error frame to send and the close status.
type closeErr struct {
	frame  *wire.FrameError
	status websocket.StatusCode
}

func (e *closeErr) Error() string { return e.frame.Detail }

func closeWith(code domain.Code, detail string, retry bool, status websocket.StatusCode) *closeErr {
	return &closeErr{frame: &wire.FrameError{Code: code, Detail: detail, Retry: retry}, status: status}
}

func (st *stream) run(reqCtx context.Context) {
	ctx, cancel := context.WithCancel(reqCtx)
	defer cancel()
	sub, _ := st.h.fan.subscribe()
	defer st.h.fan.unsubscribe(sub)

	// readDone is closed when the reader stops; readErr is its error, valid after that.
	readDone := make(chan struct{})
	var readErr error
	go func() {
		defer close(readDone)
		readErr = st.readLoop(ctx)
	}()

	err := st.serve(ctx, sub, readDone, &readErr)
	var ce *closeErr
	switch {
	case errors.As(err, &ce):
	case st.h.ctx.Err() != nil:
		ce = closeWith(domain.CodeUnavailable, "hub shutting down; resume from your cursor", true, websocket.StatusGoingAway)
	case reqCtx.Err() != nil || websocket.CloseStatus(err) != -1:
		st.conn.CloseNow()
		<-readDone
		return
	default:
		st.h.Logger.Warn("sync stream failed", logKeyNode, st.p.Node, logKeyActor, st.p.Actor(), logKeyError, err)
		ce = closeWith(domain.CodeInternal, "internal error; resume from your cursor", true, websocket.StatusInternalError)
	}
	if b, err := wire.Marshal(ce.frame); err == nil {
		wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
		st.conn.Write(wctx, websocket.MessageText, b)
		wcancel()
	}
	st.conn.Close(ce.status, truncateReason(ce.frame.Detail))
	cancel()
	<-readDone
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// serve runs catch-up, ready, then live deltas and heartbeats until an error.
func (st *stream) serve(ctx context.Context, sub *subscriber, readDone <-chan struct{}, readErr *error) error {
	h := st.h
	// An edge's zones may have changed between its authentication and the stream's
	// registration in edgeStreams, and the kick that ends streams on a zone edit would then
	// have missed this one: it would serve the old scope until a heartbeat's recheck, moving
	// the edge's cursor past changes of zones it has just gained, which it would never get.
	// Registered now, the stream checks once more before it sends anything.
	if err := st.recheck(ctx); err != nil {
		return err
	}
	// Catch-up: read the log from the client's cursor until a page is not full. The fan-out
	// mailbox was opened first, so whatever commits meanwhile arrives there too.
	for {
		head, err := h.Store.LastSeq(ctx)
		if err != nil {
			return err
		}
		page, err := h.listChanges(ctx, st.pos, st.sc, catchUpPage)
		if err != nil {
			return err
		}
		if err := st.sendChanges(ctx, page); err != nil {
			return err
		}
		if len(page) < catchUpPage {
			st.pos = max(st.pos, head)
			break
		}
	}
	if err := st.send(ctx, &wire.FrameReady{Cursor: st.pos}); err != nil {
		return err
	}
	beat := time.NewTicker(h.HeartbeatInterval / 3)
	defer beat.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return h.ctx.Err()
		case <-ctx.Done():
			return ctx.Err()
		case <-readDone:
			return *readErr
		case ce := <-st.kicked:
			return ce
		case <-sub.dropped:
			return closeWith(domain.CodeUnavailable, "subscriber too slow; resume from your cursor", true, websocket.StatusTryAgainLater)
		case d := <-sub.ch:
			if d.upTo <= st.pos {
				continue
			}
			if err := st.sendDelta(ctx, d); err != nil {
				return err
			}
			st.pos = d.upTo
		case <-beat.C:
			if err := st.recheckUser(ctx); err != nil {
				return err
			}
			if time.Since(st.last) < h.HeartbeatInterval {
				continue
			}
			if err := st.recheck(ctx); err != nil {
				return err
			}
			if err := st.send(ctx, &wire.FrameHeartbeat{Cursor: st.pos, Time: h.Now().UTC()}); err != nil {
				return err
			}
		}
	}
}

// recheck ends the stream of an edge whose credential was revoked or has expired.
func (st *stream) recheck(ctx context.Context) error {
	if !isEdge(st.p) {
		return nil
	}
	p, err := st.h.Store.AuthenticateEdge(ctx, st.token)
	if err != nil {
		if code := domain.ErrorCode(err); code == domain.CodeUnauthorized || code == domain.CodeForbidden {
			return closeWith(code, domain.ErrorMessage(err), false, websocket.StatusPolicyViolation)
		}
		return err
	}
	return st.recheckScope(p)
}

// sendChanges sends the in-scope changes of page (filtered for field users) and advances pos.
func (st *stream) sendChanges(ctx context.Context, page []domain.Change) error {
	if len(page) == 0 {
		return nil
	}
	upTo := page[len(page)-1].Seq
	out, err := st.h.filter(ctx, st.sc, page)
	if err != nil {
		return err
	}
	if len(out) > 0 {
		if err := st.send(ctx, &wire.FrameChanges{Changes: out, Cursor: upTo}); err != nil {
			return err
		}
		streamedChanges.Add(float64(len(out)))
	}
	st.pos = max(st.pos, upTo)
	return nil
}

// sendDelta sends the in-scope changes of a live run of the log. Streams with the same
// read scope at the same position are sent the same frame, so the first of them builds it
// (with the handler's context: a stream that ends meanwhile must not fail the others) and
// the rest send its bytes. A field user's frame depends on which tickets are the team's at
// the moment it is built, so field users' streams build their own.
func (st *stream) sendDelta(ctx context.Context, d delta) error {
	build := func(ctx context.Context) (msg []byte, typ websocket.MessageType, n int, err error) {
		fresh, err := st.h.liveChanges(ctx, st.sc, st.pos, d.changes)
		if err != nil || len(fresh) == 0 {
			return nil, 0, 0, err
		}
		out, err := st.h.filter(ctx, st.sc, fresh)
		if err != nil || len(out) == 0 {
			return nil, 0, 0, err
		}
		msg, typ, err = encode(&wire.FrameChanges{Changes: out, Cursor: fresh[len(fresh)-1].Seq})
		return msg, typ, len(out), err
	}
	var (
		msg []byte
		typ websocket.MessageType
		n   int
		err error
	)
	source := "built"
	if st.sc.team != "" {
		msg, typ, n, err = build(ctx)
	} else {
		f := d.frames.get(frameKey{scope: st.sc.key(), pos: st.pos})
		source = "shared"
		f.once.Do(func() {
			f.msg, f.typ, f.n, f.err = build(st.h.ctx)
			source = "built"
		})
		msg, typ, n, err = f.msg, f.typ, f.n, f.err
	}
	if err != nil || msg == nil {
		return err
	}
	if err := st.write(ctx, typ, msg); err != nil {
		return err
	}
	streamFrames.WithLabelValues(source).Inc()
	streamedChanges.Add(float64(n))
	return nil
}

// send writes one frame, as gzipped binary when it is large.
func (st *stream) send(ctx context.Context, f wire.Frame) error {
	msg, typ, err := encode(f)
	if err != nil {
		return err
	}
	return st.write(ctx, typ, msg)
}

// encode returns the websocket message for f: gzipped binary when it is large.
func encode(f wire.Frame) ([]byte, websocket.MessageType, error) {
	b, err := wire.Marshal(f)
	if err != nil {
		return nil, 0, err
	}
	if len(b) <= binaryOver {
		return b, websocket.MessageText, nil
	}
	if b, err = wire.Gzip(b); err != nil {
		return nil, 0, err
	}
	return b, websocket.MessageBinary, nil
}

func (st *stream) write(ctx context.Context, typ websocket.MessageType, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, st.h.WriteTimeout)
	defer cancel()
	if err := st.conn.Write(wctx, typ, msg); err != nil {
		return err
	}
	st.last = time.Now()
	return nil
}

// readLoop reads client frames: acks feed the lag metric; anything else ends the stream.
func (st *stream) readLoop(ctx context.Context) error {
	for {
		_, b, err := st.conn.Read(ctx)
		if err != nil {
			return err
		}
		f, err := wire.ReadFrame(bytesReader(b), wire.Limits{MaxFrameBytes: 64 << 10})
		if err != nil {
			return closeWith(domain.CodeInvalid, "bad client frame: "+domain.ErrorMessage(err), false, websocket.StatusPolicyViolation)
		}
		ack, ok := f.(*wire.FrameAck)
		if !ok {
			return closeWith(domain.CodeInvalid, "a stream client may only send ack frames, not "+string(f.FrameType()), false, websocket.StatusPolicyViolation)
		}
		if head, err := st.h.Store.LastSeq(ctx); err == nil {
			streamLag.Observe(float64(max(0, head-ack.Cursor)))
		}
		// The ack is the replica's watermark (tombstones wait for it). A failure to record it
		// only delays tombstone collection, so it does not end the stream.
		if err := st.h.noteCursor(ctx, st.p, st.sc, ack.Cursor); err != nil && ctx.Err() == nil {
			st.h.Logger.Warn("record stream ack", logKeyNode, st.p.Node, logKeyCursor, ack.Cursor, logKeyError, err)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
