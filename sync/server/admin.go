package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

func mergeDigest(s syncstore.Snapshot) string { return merge.DigestStates(s.States()) }

// requireRole refuses callers whose role is not one of roles (edges have none).
func requireRole(r *http.Request, roles ...domain.Role) (domain.Principal, error) {
	p, err := principal(r)
	if err != nil {
		return p, err
	}
	for _, role := range roles {
		if p.Role == role {
			return p, nil
		}
	}
	return p, domain.Errorf(domain.CodeForbidden, "this needs the role %s", roles[0])
}

// decodeJSON decodes a small JSON body strictly into v.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return err
	}
	if len(b) > 64<<10 {
		return domain.Errorf(domain.CodeTooLarge, "body is larger than 64 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return domain.Errorf(domain.CodeInvalid, "invalid json body: %s", firstLine(err.Error()))
	}
	if dec.More() {
		return domain.Errorf(domain.CodeInvalid, "unexpected data after the json body")
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// handleConflicts is GET /conflicts?zone=&resolved=&cursor=&limit= (admin, dispatcher).
func (h *Handler) handleConflicts(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleDispatcher, domain.RoleAdmin); err != nil {
		return err
	}
	q, err := query(r, "zone", "resolved", "cursor", "limit")
	if err != nil {
		return err
	}
	f := syncstore.ConflictFilter{Zone: q.Get("zone"), Cursor: q.Get("cursor")}
	if s := q.Get("resolved"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return domain.FieldErrorf("resolved", "resolved must be true or false")
		}
		f.Resolved = &b
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > 500 {
			return domain.FieldErrorf("limit", "limit must be between 1 and 500")
		}
	}
	page, err := h.Store.ListConflicts(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

type resolveRequest struct {
	Action syncstore.Action `json:"action"`
}

// handleResolve is POST /conflicts/{id}/resolve {"action": "dismiss"|"apply"}.
func (h *Handler) handleResolve(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleDispatcher, domain.RoleAdmin); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	if !domain.ValidID(id) {
		return domain.Errorf(domain.CodeNotFound, "conflict %q not found", id)
	}
	var req resolveRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, err := h.Store.ResolveConflict(r.Context(), id, req.Action)
	if err != nil {
		return err
	}
	if req.Action == syncstore.ActionApply {
		if head, err := h.Store.LastSeq(r.Context()); err == nil {
			h.Broadcaster.Publish(r.Context(), head)
		}
	}
	return writeJSON(w, http.StatusOK, c)
}

type edgeRequest struct {
	Name      string   `json:"name"`
	Zones     []string `json:"zones"`
	ExpiresIn string   `json:"expires_in"` // Go duration, e.g. "720h"; empty = never
}

type edgeResponse struct {
	syncstore.EdgeCredential
	Token string `json:"token"`
}

// handleEdgeCreate is POST /edges (admin): mint a credential; the token is shown once.
func (h *Handler) handleEdgeCreate(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleAdmin); err != nil {
		return err
	}
	var req edgeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c := syncstore.EdgeCredential{Name: req.Name, Zones: req.Zones}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return domain.FieldErrorf("expires_in", "expires_in must be a positive duration like 720h")
		}
		at := h.Now().Add(d)
		c.ExpiresAt = &at
	}
	c, token, err := h.Store.CreateEdgeCredential(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, edgeResponse{EdgeCredential: c, Token: token})
}

// handleEdgeList is GET /edges (admin).
func (h *Handler) handleEdgeList(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleAdmin); err != nil {
		return err
	}
	list, err := h.Store.ListEdgeCredentials(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

// handleEdgeRevoke is DELETE /edges/{name} (admin); open streams of the edge end at once on
// this hub replica, at their next heartbeat on others.
func (h *Handler) handleEdgeRevoke(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleAdmin); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	if err := h.Store.RevokeEdgeCredential(r.Context(), name); err != nil {
		return err
	}
	// End its streams now, not at their next heartbeat; the edge's next request is refused
	// with the problem type credential-revoked and it purges what it holds.
	h.edgeStreams.kick(name, closeWith(domain.CodeUnauthorized, "edge credential \""+name+"\" is revoked", false, websocket.StatusPolicyViolation))
	h.Logger.Info("edge credential revoked", logKeyNode, name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
