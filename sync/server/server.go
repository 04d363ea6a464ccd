// Package server is the hub side of the sync protocol (sync/PROTOCOL.md): HTTP handlers for
// push, pull, the WebSocket stream, the zone digest, conflict review and edge credentials,
// and the fan-out that wakes streams when the log grows. cmd/aiff mounts it with
// hubhttp.Server.Mount("/api/sync", h), which authenticates the caller (access tokens and
// edge tokens) and puts the principal in the request context; handlers here do their own
// role and scope checks.
//
// Fan-out is in-process by default (Local); the Broadcaster interface lets replicas share
// wake-ups through Redis later. Streams never depend on the broadcaster for correctness: the
// fan-out reads the log itself and also polls it, so changes written by the REST API or by
// another replica reach every stream within PollInterval even without a wake-up.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// Store is what the handlers need: the sync store plus reads for a field user's scope.
type Store interface {
	syncstore.Store
	GetTicket(ctx context.Context, id string) (domain.Ticket, error)
	GetTeam(ctx context.Context, id string) (domain.Team, error)
}

// Constant log keys.
const (
	logKeyNode   = "node"
	logKeyActor  = "actor"
	logKeyError  = "error"
	logKeyCursor = "cursor"
)

// Handler serves the sync API. Set the exported fields before the first request; Close ends
// open streams and the fan-out.
type Handler struct {
	Store  Store
	Logger *slog.Logger
	// Broadcaster wakes streams after a push commits (default: a Local one).
	Broadcaster Broadcaster
	// Limits bound decoded frames (zero fields: wire.DefaultLimits). The mount's body limit
	// must be at least Limits.MaxFrameBytes.
	Limits wire.Limits
	// Now is the clock for heartbeats (default time.Now).
	Now func() time.Time
	// HeartbeatInterval is how long a stream may be idle before a heartbeat (default 15 s).
	HeartbeatInterval time.Duration
	// PollInterval bounds how long a change written outside push (REST API, another
	// replica) waits before streams see it (default 1 s).
	PollInterval time.Duration
	// SubscriberBuffer is how many deltas a stream may fall behind before it is dropped as
	// too slow (default 256).
	SubscriberBuffer int
	// WriteTimeout bounds each WebSocket write (default 10 s).
	WriteTimeout time.Duration
	// Compaction, if set, serves POST /compact and, with an Interval, runs in the background
	// from Start until Close (compact.go). Unset, /compact runs on demand with the defaults.
	Compaction *Compaction

	once   sync.Once
	router http.Handler
	fan    *fanout
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // streams and the fan-out (and the compaction job)

	compactOnce       sync.Once
	defaultCompaction *Compaction
	// edgeStreams are the open streams by edge, ended at once when the edge's credential
	// changes (scope.go).
	edgeStreams edgeStreams
	// marks are the replica cursors last recorded (watermark.go).
	marks watermarks
}

// New returns a handler on store with defaults.
func New(store Store) *Handler {
	return &Handler{Store: store, Logger: slog.New(slog.DiscardHandler)}
}

func (h *Handler) init() {
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	if h.Broadcaster == nil {
		h.Broadcaster = NewLocal()
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	if h.HeartbeatInterval <= 0 {
		h.HeartbeatInterval = 15 * time.Second
	}
	if h.PollInterval <= 0 {
		h.PollInterval = time.Second
	}
	if h.SubscriberBuffer <= 0 {
		h.SubscriberBuffer = 256
	}
	if h.WriteTimeout <= 0 {
		h.WriteTimeout = 10 * time.Second
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.fan = &fanout{h: h, subs: map[*subscriber]struct{}{}}
	r := chi.NewRouter()
	r.Post("/push", h.handle(h.handlePush))
	r.Get("/pull", h.handle(h.handlePull))
	r.Get("/stream", h.handle(h.handleStream))
	r.Get("/digest", h.handle(h.handleDigest))
	r.Get("/conflicts", h.handle(h.handleConflicts))
	r.Post("/conflicts/{id}/resolve", h.handle(h.handleResolve))
	r.Post("/edges", h.handle(h.handleEdgeCreate))
	r.Get("/edges", h.handle(h.handleEdgeList))
	r.Delete("/edges/{name}", h.handle(h.handleEdgeRevoke))
	r.Get("/snapshot", h.handle(h.handleSnapshot))
	r.Post("/compact", h.handle(h.handleCompact))
	r.Put("/edges/{name}", h.handle(h.handleEdgeUpdate))
	r.Get("/scope", h.handle(h.handleScope))
	r.Post("/rows", h.handle(h.handleRows))
	r.Get("/buckets", h.handle(h.handleBuckets))
	r.Get("/buckets/{bucket}", h.handle(h.handleBucketRows))
	r.Post("/logins", h.handle(h.handleLogins))
	r.NotFound(h.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.CodeNotFound, "no sync route for %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(h.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &domain.Error{Code: domain.CodeInvalid, Message: "method " + r.Method + " is not allowed here"}
	}))
	h.router = r
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.fan.run(h.ctx)
	}()
	if h.Compaction != nil && h.Compaction.Interval > 0 {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.Compaction.Run(h.ctx)
		}()
	}
}

// Start starts the handler's background work (fan-out, compaction job) without waiting for
// the first request. Safe to call more than once; Close stops it.
func (h *Handler) Start() { h.once.Do(h.init) }

// ServeHTTP serves the sync routes (relative to the mount point).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	h.router.ServeHTTP(w, withBootstrap(r))
}

// Close ends every stream (error frame "unavailable", retry, close 1001), stops the fan-out
// and waits for them. Safe to call more than once, and before any request.
func (h *Handler) Close() {
	h.once.Do(h.init)
	h.cancel()
	h.wg.Wait()
}

// handle adapts a handler that returns an error; the error becomes problem+json.
func (h *Handler) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.writeProblem(w, r, err)
		}
	}
}

// statusOf maps error codes to HTTP statuses, as hub/http does.
var statusOf = map[domain.Code]int{
	domain.CodeInvalid:         http.StatusBadRequest,
	domain.CodeNotFound:        http.StatusNotFound,
	domain.CodeConflict:        http.StatusConflict,
	domain.CodeUnauthorized:    http.StatusUnauthorized,
	domain.CodeForbidden:       http.StatusForbidden,
	domain.CodeTooManyRequests: http.StatusTooManyRequests,
	domain.CodeTooLarge:        http.StatusRequestEntityTooLarge,
	domain.CodeUnavailable:     http.StatusServiceUnavailable,
	domain.CodeInternal:        http.StatusInternalServerError,
}

// writeProblem writes err as RFC 9457 problem+json with hub/http's stable types. Internal
// errors are logged and answered with a request id only.
func (h *Handler) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = domain.Errorf(domain.CodeTooLarge, "request body is larger than %d bytes", mbe.Limit)
	}
	code := domain.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = domain.CodeInternal, http.StatusInternalServerError
	}
	rid := hubhttp.RequestID(r.Context())
	p := hubhttp.Problem{Type: hubhttp.ProblemType(code), Title: http.StatusText(status), Status: status, RequestID: rid}
	var rev *syncstore.RevokedError
	var behind *syncstore.BehindHorizonError
	if code == domain.CodeUnauthorized && errors.As(err, &rev) {
		p.Type = hubhttp.ProblemBase + rev.ProblemSlug()
	} else if errors.As(err, &behind) {
		p.Type = hubhttp.ProblemBase + behind.ProblemSlug()
	}
	if code == domain.CodeInternal {
		p.Detail = "internal error; quote request id " + rid + " when reporting it"
		h.Logger.Error("sync request failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, logKeyError, err)
	} else {
		p.Detail, p.Field = domain.ErrorMessage(err), domain.ErrorField(err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiff"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

// writeFrame writes a protocol frame, gzipped when the client accepts it.
func writeFrame(w http.ResponseWriter, r *http.Request, f wire.Frame) error {
	b, err := wire.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.FrameType(), err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) && len(b) > 1024 {
		if b, err = wire.Gzip(b); err != nil {
			return err
		}
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// principal returns the caller, or CodeUnauthorized without one.
func principal(r *http.Request) (domain.Principal, error) {
	p, ok := domain.PrincipalFrom(r.Context())
	if !ok {
		return p, domain.Errorf(domain.CodeUnauthorized, "missing bearer token")
	}
	return p, nil
}

// isEdge reports whether p is an edge node's credential.
func isEdge(p domain.Principal) bool { return p.Role == "" && p.Node != "" && len(p.Zones) > 0 }

// readScope is what a caller may pull: all zones (nil), some zones, or a field user's team.
type readScope struct {
	zones []string // nil: every zone
	team  string   // field user: only this team's tickets, the team and its zone
}

func (h *Handler) readScopeOf(ctx context.Context, p domain.Principal) (readScope, error) {
	switch {
	case p.Role == domain.RoleAdmin || p.Role == domain.RoleDispatcher || p.Role == domain.RoleViewer:
		return readScope{}, nil
	case p.Role == domain.RoleField:
		if p.TeamID == "" {
			return readScope{}, domain.Errorf(domain.CodeForbidden, "a field user needs a team to sync")
		}
		tm, err := h.Store.GetTeam(ctx, p.TeamID)
		if err != nil {
			if domain.ErrorCode(err) == domain.CodeNotFound {
				return readScope{}, domain.Errorf(domain.CodeForbidden, "your team no longer exists")
			}
			return readScope{}, err
		}
		return readScope{zones: []string{tm.Zone}, team: tm.ID}, nil
	case isEdge(p):
		return readScope{zones: slices.Clone(p.Zones)}, nil
	}
	return readScope{}, domain.Errorf(domain.CodeForbidden, "this credential may not sync")
}

func (sc readScope) zoneOK(z string) bool { return sc.zones == nil || slices.Contains(sc.zones, z) }

// key names the scope: equal for scopes that let the same changes through.
func (sc readScope) key() string {
	if sc.zones == nil {
		return "*" + sc.team
	}
	zones := slices.Clone(sc.zones)
	slices.Sort(zones)
	return strings.Join(slices.Compact(zones), "\x00") + "\x01" + sc.team
}

// filter keeps the changes a field user may see (other scopes are filtered by zone in the
// query) and strips delete patches, which the wire format does not carry.
func (h *Handler) filter(ctx context.Context, sc readScope, in []domain.Change) ([]domain.Change, error) {
	out := make([]domain.Change, 0, len(in))
	mine := map[string]bool{}
	for _, c := range in {
		if sc.team != "" {
			switch c.Entity {
			case domain.EntityTicket:
				ok, seen := mine[c.EntityID]
				if !seen {
					t, err := h.Store.GetTicket(ctx, c.EntityID)
					if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
						return nil, err
					}
					ok = err == nil && t.AssignedTeam != nil && *t.AssignedTeam == sc.team
					mine[c.EntityID] = ok
				}
				if !ok {
					continue
				}
			case domain.EntityTeam:
				if c.EntityID != sc.team {
					continue
				}
			case domain.EntityZone:
			default:
				continue
			}
		}
		// Each stream gets its own maps: fan-out hands one page to every stream, and encoding
		// a frame normalizes patch values in place.
		c.Patch, c.Base = maps.Clone(c.Patch), maps.Clone(c.Base)
		if c.Op == domain.OpDelete {
			c.Patch = nil
		}
		out = append(out, c)
	}
	return out, nil
}

// query parses r's query string, refusing parameters not in allowed and repeats.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, domain.Errorf(domain.CodeInvalid, "malformed query string")
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, domain.FieldErrorf(k, "unknown query parameter %q", k)
		}
		if len(v) > 1 {
			return nil, domain.FieldErrorf(k, "query parameter %q given more than once", k)
		}
	}
	return q, nil
}

// cursorParam reads the cursor query parameter and checks it is not beyond the log head.
func (h *Handler) cursorParam(ctx context.Context, q url.Values) (cursor, head int64, err error) {
	if s := q.Get("cursor"); s != "" {
		cursor, err = strconv.ParseInt(s, 10, 64)
		if err != nil || cursor < 0 {
			return 0, 0, domain.FieldErrorf("cursor", "cursor must be a non-negative integer")
		}
	}
	if head, err = h.Store.LastSeq(ctx); err != nil {
		return 0, 0, err
	}
	if cursor > head {
		return 0, 0, domain.FieldErrorf("cursor", "cursor %d is beyond the hub's log head %d: rebuild from cursor 0", cursor, head)
	}
	if err := h.checkHorizon(ctx, cursor); err != nil {
		return 0, 0, err
	}
	return cursor, head, nil
}

func (h *Handler) handlePush(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	if p.Role == domain.RoleViewer {
		return domain.Errorf(domain.CodeForbidden, "viewers may not push changes")
	}
	if _, err := query(r); err != nil {
		return err
	}
	start := time.Now()
	req, err := wire.ReadAs[*wire.PushRequest](r.Body, h.Limits)
	if err != nil {
		return err
	}
	resp, err := h.Store.PushChanges(r.Context(), p, req.Changes)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeForbidden {
			pushBatches.WithLabelValues("forbidden").Inc()
		}
		return err
	}
	pushBatches.WithLabelValues("ok").Inc()
	pushDuration.Observe(time.Since(start).Seconds())
	stored := false
	for _, res := range resp.Results {
		pushChanges.WithLabelValues(string(res.Status)).Inc()
		stored = stored || res.Status == wire.Accepted || res.Status == wire.Clamped
	}
	if stored {
		if err := h.Broadcaster.Publish(r.Context(), resp.Cursor); err != nil {
			h.Logger.Warn("publish log head", logKeyCursor, resp.Cursor, logKeyError, err)
		}
	}
	h.Logger.Debug("push", logKeyNode, req.Node, logKeyActor, p.Actor(), "changes", len(req.Changes), logKeyCursor, resp.Cursor)
	return writeFrame(w, r, &resp)
}

func (h *Handler) handlePull(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q, err := query(r, "cursor", "limit")
	if err != nil {
		return err
	}
	limit := 500
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			return domain.FieldErrorf("limit", "limit must be between 1 and 1000")
		}
	}
	sc, err := h.readScopeOf(r.Context(), p)
	if err != nil {
		return err
	}
	cursor, head, err := h.cursorParam(r.Context(), q)
	if err != nil {
		return err
	}
	if err := h.noteCursor(r.Context(), p, sc, cursor); err != nil {
		return err
	}
	page, err := h.listChanges(r.Context(), cursor, sc, limit+1)
	if err != nil {
		return err
	}
	resp := wire.PullResponse{NextCursor: max(cursor, head)}
	if len(page) > limit {
		page, resp.HasMore = page[:limit], true
		resp.NextCursor = page[limit-1].Seq
	} else if n := len(page); n > 0 {
		resp.NextCursor = max(head, page[n-1].Seq)
	}
	if resp.Changes, err = h.filter(r.Context(), sc, page); err != nil {
		return err
	}
	pulledChanges.Add(float64(len(resp.Changes)))
	return writeFrame(w, r, &resp)
}

// digestResponse is GET /digest (PROTOCOL.md §7).
type digestResponse struct {
	Zone   string `json:"zone"`
	Digest string `json:"digest"`
	Cursor int64  `json:"cursor"`
	Rows   int    `json:"rows"`
}

func (h *Handler) handleDigest(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q, err := query(r, "zone")
	if err != nil {
		return err
	}
	zone := q.Get("zone")
	if zone == "" {
		return domain.FieldErrorf("zone", "zone is required")
	}
	sc, err := h.readScopeOf(r.Context(), p)
	if err != nil {
		return err
	}
	if sc.team != "" || !sc.zoneOK(zone) {
		return domain.Errorf(domain.CodeForbidden, "zone %q is outside your scope", zone)
	}
	snap, err := h.Store.Snapshot(r.Context(), []string{zone})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, digestResponse{Zone: zone, Digest: mergeDigest(snap), Cursor: snap.Cursor, Rows: len(snap.Rows)})
}
