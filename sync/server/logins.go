package server

import (
	"context"
	"net/http"

	"github.com/aiff/aiff/domain"
)

// Login checks (sync/PROTOCOL.md §10): an edge caches the password hash of every user who
// logged in through it and issues them its own tokens. Users of teams in its zones are
// replicated, so their deactivation reaches it through the log; the others (dispatchers,
// admins, viewers, users of other zones' teams) are not, so the edge asks here, now and
// then, whether they may still log in, and drops the cached login and the sessions of those
// who may not.

// MaxLoginIDs bounds the ids of one POST /logins.
const MaxLoginIDs = 1000

// Reasons a user may no longer log in, in a POST /logins answer.
const (
	LoginReasonUnknown     = "unknown"     // no such user on the hub
	LoginReasonDeactivated = "deactivated" // is_active is false
)

// usersByID is the batch user read the login check needs; both hub stores have it.
type usersByID interface {
	GetUsersByID(ctx context.Context, ids []string) (map[string]domain.User, error)
}

type loginsRequest struct {
	Users []string `json:"users"`
}

// LoginStatus is one user's entry in a POST /logins answer: whether they may still log in at
// the asking edge and, for a user the hub has, their name, role and team now.
type LoginStatus struct {
	ID       string      `json:"id"`
	MayLogin bool        `json:"may_login"`
	Reason   string      `json:"reason,omitempty"` // when MayLogin is false
	Username string      `json:"username,omitempty"`
	Role     domain.Role `json:"role,omitempty"`
	TeamID   *string     `json:"team_id"`
}

type loginsResponse struct {
	Users []LoginStatus `json:"users"`
}

// handleLogins is POST /logins {"users": [id, …]} (edges only): for each distinct id, in the
// order asked, whether that user may still log in at the edge (exists and is active), so that
// the edge drops the cached logins and sessions of the others. Read-only: one store read for
// the batch. At most MaxLoginIDs ids, each a ULID.
func (h *Handler) handleLogins(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	if !isEdge(p) {
		return domain.Errorf(domain.CodeForbidden, "only edge credentials may check logins")
	}
	if _, err := query(r); err != nil {
		return err
	}
	us, ok := h.Store.(usersByID)
	if !ok {
		return domain.Errorf(domain.CodeNotFound, "this hub cannot check logins")
	}
	var req loginsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Users == nil:
		return domain.FieldErrorf("users", "users must be an array of user ids")
	case len(req.Users) > MaxLoginIDs:
		return &domain.Error{Code: domain.CodeTooLarge, Field: "users", Message: "at most 1000 user ids per request"}
	}
	ids := make([]string, 0, len(req.Users))
	seen := make(map[string]bool, len(req.Users))
	for i, id := range req.Users {
		if !domain.ValidID(id) {
			return domain.FieldErrorf("users", "users[%d] is not a user id (a ULID)", i)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	found, err := us.GetUsersByID(r.Context(), ids)
	if err != nil {
		return err
	}
	out := loginsResponse{Users: make([]LoginStatus, 0, len(ids))}
	for _, id := range ids {
		u, ok := found[id]
		st := LoginStatus{ID: id, MayLogin: ok && u.IsActive}
		switch {
		case !ok:
			st.Reason = LoginReasonUnknown
		case !u.IsActive:
			st.Reason = LoginReasonDeactivated
		}
		if ok {
			st.Username, st.Role, st.TeamID = u.Username, u.Role, u.TeamID
		}
		out.Users = append(out.Users, st)
	}
	return writeJSON(w, http.StatusOK, out)
}
