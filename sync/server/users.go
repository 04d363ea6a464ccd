package server

import (
	"context"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
)

// userStore is the part of a hub store that says whether a user may still sync. The hub
// stores have it; the server finds it by type assertion, like ScopeStore.
type userStore interface {
	GetUser(ctx context.Context, id string) (domain.User, error)
}

// recheckUser ends, for good, the stream of a user deactivated (or gone) since it opened: the
// hub refuses their requests within seconds, and a stream must not go on feeding their
// device the team's tickets. It runs on every heartbeat tick, busy or idle, one primary-key
// read per user stream.
func (st *stream) recheckUser(ctx context.Context) error {
	us, ok := st.h.Store.(userStore)
	if !ok || isEdge(st.p) || st.p.UserID == "" {
		return nil
	}
	u, err := us.GetUser(ctx, st.p.UserID)
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return closeWith(domain.CodeUnauthorized, "user no longer exists", false, websocket.StatusPolicyViolation)
	case err != nil:
		return err
	case !u.IsActive:
		return closeWith(domain.CodeUnauthorized, "user "+u.Username+" is deactivated", false, websocket.StatusPolicyViolation)
	}
	return nil
}
