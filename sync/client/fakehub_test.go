package client_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// fakeHub is an in-memory hub speaking the sync protocol closely enough to exercise the
// client: a gap-free log, idempotent push, pull pages, and a stream with catch-up, ready,
// live deltas and heartbeats. It does no merge or scope checks.
type fakeHub struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	log     []domain.Change
	ids     map[string]int64
	changed chan struct{} // closed and replaced on every commit
	kill    chan struct{} // closed to drop every open stream

	// Hooks, set under mu.
	reject     func(domain.Change) string // a reason rejects the change
	refuse     func(domain.Change) bool   // true refuses the whole push with 400
	failPushes int                        // the next n pushes answer 503 and store nothing
	loseAnswer int                        // the next n pushes commit but answer 500
	fault      func(push int) string      // "fail" or "lose" as above for the push numbered push (from 1)
	maxChanges int                        // > 0: a push of more changes is refused with 413
	pushes     int
	batchSizes []int
}

func newFakeHub(t testing.TB) *fakeHub {
	h := &fakeHub{t: t, ids: map[string]int64{}, changed: make(chan struct{}), kill: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/sync/push", h.push)
	mux.HandleFunc("GET /api/sync/pull", h.pull)
	mux.HandleFunc("GET /api/sync/stream", h.stream)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.dropStreams()
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

func (h *fakeHub) dropStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.kill)
	h.kill = make(chan struct{})
}

func problem(w http.ResponseWriter, status int, slug, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write([]byte(`{"type":"https://aiff.dev/problems/` + slug + `","title":"x","status":` + strconv.Itoa(status) + `,"detail":"` + detail + `"}`))
}

// commit appends changes made on the hub itself (or by another node) to the log.
func (h *fakeHub) commit(cs ...domain.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commitLocked(cs...)
}

func (h *fakeHub) commitLocked(cs ...domain.Change) {
	for _, c := range cs {
		c.Seq = int64(len(h.log) + 1)
		h.log = append(h.log, c)
		h.ids[c.ID] = c.Seq
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *fakeHub) push(w http.ResponseWriter, r *http.Request) {
	req, err := wire.ReadAs[*wire.PushRequest](r.Body, wire.Limits{})
	if err != nil {
		problem(w, 400, "invalid", "bad push")
		return
	}
	h.mu.Lock()
	h.pushes++
	h.batchSizes = append(h.batchSizes, len(req.Changes))
	var fault string
	if h.fault != nil {
		fault = h.fault(h.pushes)
	}
	if h.failPushes > 0 {
		h.failPushes--
		fault = "fail"
	}
	if fault == "fail" {
		h.mu.Unlock()
		problem(w, 503, "unavailable", "database down")
		return
	}
	if h.maxChanges > 0 && len(req.Changes) > h.maxChanges {
		h.mu.Unlock()
		problem(w, 413, "too-large", "too many changes")
		return
	}
	if h.refuse != nil {
		for _, c := range req.Changes {
			if h.refuse(c) {
				h.mu.Unlock()
				problem(w, 400, "invalid", "refused change")
				return
			}
		}
	}
	res := &wire.PushResponse{}
	var fresh []domain.Change
	for _, c := range req.Changes {
		if seq, ok := h.ids[c.ID]; ok {
			res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Duplicate, Seq: seq})
			continue
		}
		if h.reject != nil {
			if reason := h.reject(c); reason != "" {
				res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Rejected, Code: domain.CodeInvalid, Error: reason})
				continue
			}
		}
		seq := int64(len(h.log) + len(fresh) + 1)
		h.ids[c.ID] = seq
		fresh = append(fresh, c)
		res.Results = append(res.Results, wire.Result{ID: c.ID, Status: wire.Accepted, Seq: seq})
	}
	lose := h.loseAnswer > 0 || fault == "lose"
	if h.loseAnswer > 0 {
		h.loseAnswer--
	}
	h.commitLocked(fresh...)
	res.Cursor = int64(len(h.log))
	h.mu.Unlock()
	if lose {
		problem(w, 500, "internal", "lost answer")
		return
	}
	wire.WriteFrame(w, res, false)
}

func (h *fakeHub) since(cursor int64, limit int) ([]domain.Change, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cursor >= int64(len(h.log)) {
		return nil, int64(len(h.log)), false
	}
	end := min(int64(len(h.log)), cursor+int64(limit))
	// Deep copies: wire.Marshal normalizes a frame's patches in place, so two streams must
	// not share a change's maps.
	out := make([]domain.Change, 0, end-cursor)
	for _, c := range h.log[cursor:end] {
		c.Patch, c.Base = maps.Clone(c.Patch), maps.Clone(c.Base)
		out = append(out, c)
	}
	return out, end, end < int64(len(h.log))
}

func (h *fakeHub) pull(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.ParseInt(r.URL.Query().Get("cursor"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 500
	}
	h.mu.Lock()
	head := int64(len(h.log))
	h.mu.Unlock()
	if cursor > head {
		problem(w, 400, "invalid", "cursor beyond head")
		return
	}
	cs, next, more := h.since(cursor, limit)
	gz := r.Header.Get("Accept-Encoding") == "gzip"
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
	}
	wire.WriteFrame(w, &wire.PullResponse{Changes: cs, NextCursor: next, HasMore: more}, gz)
}

func (h *fakeHub) stream(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.ParseInt(r.URL.Query().Get("cursor"), 10, 64)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // read (and ignore) acks; any read error ends the stream
		defer cancel()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	send := func(f wire.Frame) error {
		var buf bytes.Buffer
		zip := false
		if fc, ok := f.(*wire.FrameChanges); ok && len(fc.Changes) > 3 {
			zip = true
		}
		if _, err := wire.WriteFrame(&buf, f, zip); err != nil {
			return err
		}
		typ := websocket.MessageText
		if zip {
			typ = websocket.MessageBinary
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return conn.Write(wctx, typ, buf.Bytes())
	}
	drain := func() error {
		for {
			cs, next, more := h.since(cursor, 100)
			if len(cs) > 0 {
				if err := send(&wire.FrameChanges{Changes: cs, Cursor: next}); err != nil {
					return err
				}
			}
			cursor = next
			if !more {
				return nil
			}
		}
	}
	if err := drain(); err != nil {
		return
	}
	if err := send(&wire.FrameReady{Cursor: cursor}); err != nil {
		return
	}
	for {
		h.mu.Lock()
		changed, kill := h.changed, h.kill
		h.mu.Unlock()
		if err := drain(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-kill:
			send(&wire.FrameError{Code: domain.CodeUnavailable, Detail: "going away", Retry: true})
			conn.Close(websocket.StatusGoingAway, "")
			return
		case <-changed:
		case <-time.After(200 * time.Millisecond):
			if err := send(&wire.FrameHeartbeat{Cursor: cursor, Time: time.Now()}); err != nil {
				return
			}
		}
	}
}
