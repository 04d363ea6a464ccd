package server

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// Scope changes (sync/PROTOCOL.md §10): exits in pull and stream, the scope and rows
// endpoints edges use to follow their scope, editing an edge's zones, and ending an edge's
// streams at once when its credential changes.

// scopeStore returns the store's scope side, if it has one.
func (h *Handler) scopeStore() (syncstore.ScopeStore, bool) {
	ss, ok := h.Store.(syncstore.ScopeStore)
	return ss, ok
}

// listChanges reads the page of the log a reader with scope sc gets after cursor: for a
// zone-scoped reader (an edge) the changes in its zones plus the exits out of them, so a
// replica hears when a row it holds moves away.
func (h *Handler) listChanges(ctx context.Context, after int64, sc readScope, limit int) ([]domain.Change, error) {
	if ss, ok := h.scopeStore(); ok && sc.zones != nil && sc.team == "" {
		return ss.ListScopeChanges(ctx, after, sc.zones, limit)
	}
	return h.Store.ListChanges(ctx, after, sc.zones, limit)
}

// liveChanges picks from a fanned-out run of the log (all zones) what a stream with scope sc
// gets: changes after pos in its zones, and exits out of them.
func (h *Handler) liveChanges(ctx context.Context, sc readScope, pos int64, run []domain.Change) ([]domain.Change, error) {
	var fresh, movers []domain.Change
	for _, c := range run {
		switch {
		case c.Seq <= pos:
		case sc.zoneOK(c.Zone):
			fresh = append(fresh, c)
		case sc.team == "" && syncstore.MayMove(c):
			movers = append(movers, c)
		}
	}
	ss, ok := h.scopeStore()
	if len(movers) == 0 || !ok {
		return fresh, nil
	}
	prev, err := ss.PrevZones(ctx, movers)
	if err != nil {
		return nil, err
	}
	for _, c := range movers {
		if z, ok := prev[c.ID]; ok && sc.zoneOK(z) {
			fresh = append(fresh, c)
		}
	}
	slices.SortFunc(fresh, func(a, b domain.Change) int { return int(a.Seq - b.Seq) })
	return fresh, nil
}

// scopeResponse is GET /scope.
type scopeResponse struct {
	Node   string   `json:"node,omitempty"`
	Zones  []string `json:"zones"` // null: every zone
	Team   string   `json:"team,omitempty"`
	Cursor int64    `json:"cursor"`
}

// handleScope is GET /scope: what the caller may replicate now, and the log head. An edge
// asks it whenever it (re)connects; a revoked or expired edge credential gets 401 with the
// problem type credential-revoked here as everywhere.
func (h *Handler) handleScope(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	sc, err := h.readScopeOf(r.Context(), p)
	if err != nil {
		return err
	}
	head, err := h.Store.LastSeq(r.Context())
	if err != nil {
		return err
	}
	zones := sc.zones
	if zones != nil {
		zones = slices.Sorted(slices.Values(zones))
	}
	return writeJSON(w, http.StatusOK, scopeResponse{Node: p.Node, Zones: zones, Team: sc.team, Cursor: head})
}

// rowsRequest is POST /rows.
type rowsRequest struct {
	Zones []string           `json:"zones"`
	Rows  []syncstore.RowKey `json:"rows"`
}

// handleRows is POST /rows (edges): the complete history of every row now in the given zones
// (a zone just added to the edge's scope) and of the listed rows (rows that entered the scope
// by moving), as {"cursor","rows":[{"entity","id","changes"}]}. Rows outside the caller's
// scope are left out, so an edge asking for a row that has left again learns that too.
func (h *Handler) handleRows(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	if !isEdge(p) {
		return domain.Errorf(domain.CodeForbidden, "only edge credentials may fetch rows")
	}
	ss, ok := h.scopeStore()
	if !ok {
		return domain.Errorf(domain.CodeNotFound, "this hub cannot serve row histories")
	}
	var req rowsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Rows) > 1000 || len(req.Zones) > 1000 {
		return domain.Errorf(domain.CodeTooLarge, "at most 1000 rows and zones per request")
	}
	for _, z := range req.Zones {
		if !slices.Contains(p.Zones, z) {
			return domain.Errorf(domain.CodeForbidden, "zone %q is outside your scope", z)
		}
	}
	for i, k := range req.Rows {
		if !slices.Contains([]domain.Entity{domain.EntityTicket, domain.EntityTeam, domain.EntityUser, domain.EntityZone, domain.EntityNote}, k.Entity) || k.ID == "" {
			return domain.FieldErrorf("rows", "rows[%d] must name an entity and an id", i)
		}
	}
	var out syncstore.RowHistory
	if len(req.Zones) > 0 {
		if out, err = ss.RowHistory(r.Context(), req.Zones, nil, true); err != nil {
			return err
		}
	}
	if len(req.Rows) > 0 {
		more, err := ss.RowHistory(r.Context(), p.Zones, req.Rows, false)
		if err != nil {
			return err
		}
		out.Cursor = max(out.Cursor, more.Cursor)
		out.Rows = append(out.Rows, more.Rows...)
	}
	if out.Rows == nil {
		out.Rows = []syncstore.HistoryRow{}
	}
	for i := range out.Rows {
		for j := range out.Rows[i].Changes {
			if out.Rows[i].Changes[j].Op == domain.OpDelete {
				out.Rows[i].Changes[j].Patch = nil
			}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

type edgeUpdateRequest struct {
	Zones []string `json:"zones"`
}

// handleEdgeUpdate is PUT /edges/{name} {"zones": […]} (admin): the edge's scope becomes
// zones from its next request on; its open streams end at once (error "unavailable", retry),
// so it reconnects, learns the new scope and moves rows in and out.
func (h *Handler) handleEdgeUpdate(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleAdmin); err != nil {
		return err
	}
	ss, ok := h.scopeStore()
	if !ok {
		return domain.Errorf(domain.CodeNotFound, "this hub cannot edit edge zones")
	}
	var req edgeUpdateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	c, err := ss.UpdateEdgeZones(r.Context(), name, req.Zones)
	if err != nil {
		return err
	}
	h.edgeStreams.kick(name, closeWith(domain.CodeUnavailable, "edge scope changed; reconnect to get the new scope", true, websocket.StatusTryAgainLater))
	h.Logger.Info("edge zones changed", logKeyNode, name, "zones", c.Zones)
	return writeJSON(w, http.StatusOK, c)
}

// edgeStreams tracks the open streams of each edge so that a credential change ends them at
// once rather than at their next heartbeat (other hub replicas' streams notice at theirs).
type edgeStreams struct {
	mu   sync.Mutex
	subs map[string]map[*stream]struct{}
}

func (e *edgeStreams) add(st *stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil {
		e.subs = map[string]map[*stream]struct{}{}
	}
	if e.subs[st.p.Node] == nil {
		e.subs[st.p.Node] = map[*stream]struct{}{}
	}
	e.subs[st.p.Node][st] = struct{}{}
}

func (e *edgeStreams) remove(st *stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.subs[st.p.Node], st)
	if len(e.subs[st.p.Node]) == 0 {
		delete(e.subs, st.p.Node)
	}
}

// kick ends every open stream of edge name with ce.
func (e *edgeStreams) kick(name string, ce *closeErr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for st := range e.subs[name] {
		select {
		case st.kicked <- ce:
		default:
		}
	}
}

// recheckScope ends the stream of an edge whose credential's zones changed since it opened.
func (st *stream) recheckScope(p domain.Principal) error {
	a, b := slices.Sorted(slices.Values(p.Zones)), slices.Sorted(slices.Values(st.p.Zones))
	if !slices.Equal(a, b) {
		return closeWith(domain.CodeUnavailable, "edge scope changed; reconnect to get the new scope", true, websocket.StatusTryAgainLater)
	}
	return nil
}
