package http

import (
	"context"
	"fmt"

	"github.com/aiff/aiff/domain"
)

// currentPrincipal is p as the replica knows its user now. It refuses a token of a user
// whose replicated row says they were deactivated on the hub: edge tokens have no refresh
// token to revoke and last a shift, so the replica is what ends them once the deactivation
// syncs. For an active user it takes the role and team from the row, as the hub does for
// its own tokens, so a user an admin demoted or moved to another team loses what the old
// role or team allowed as soon as the change reaches this edge, not when the token expires.
// The row is read on each request (a primary-key read of the local file, cheap next to any
// route behind it). A user this edge does not hold (a dispatcher without a team, say) is let
// through as the token says, since the hub vouched for them at login, unless the hub said
// since that they may no longer log in (the edge's login check, edge/logins.go), which the
// store records for as long as their tokens could last.
func (s *Server) currentPrincipal(ctx context.Context, p domain.Principal) (domain.Principal, error) {
	if p.UserID == "" {
		return p, nil
	}
	u, err := s.Store.GetUser(ctx, p.UserID)
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return p, s.checkLoginRevoked(ctx, p)
	case err != nil:
		return p, fmt.Errorf("check user %s: %w", p.UserID, err)
	case !u.IsActive:
		return p, domain.Errorf(domain.CodeUnauthorized, "user %s is deactivated; ask an admin", u.Username)
	}
	p.Role, p.TeamID = u.Role, ""
	if u.TeamID != nil {
		p.TeamID = *u.TeamID
	}
	return p, nil
}

// forgetInactiveLogin deletes the cached login of a user the replica says is inactive, for
// a deactivation that reached this edge before the purge on arrival existed, or by a path
// that did not purge it.
func (s *Server) forgetInactiveLogin(ctx context.Context, u domain.User) {
	if err := s.Store.DeleteCredential(ctx, u.ID); err != nil {
		s.Logger.Warn("could not delete the cached login of an inactive user", logKeyUser, u.Username, logKeyError, err)
	}
}

// checkLoginRevoked refuses a token of a user not replicated here whose login the hub has
// revoked (sqlite.Store.RevokeLogin).
func (s *Server) checkLoginRevoked(ctx context.Context, p domain.Principal) error {
	reason, revoked, err := s.Store.LoginRevoked(ctx, p.UserID)
	switch {
	case err != nil:
		return fmt.Errorf("check user %s: %w", p.UserID, err)
	case revoked:
		return domain.Errorf(domain.CodeUnauthorized, "user %s may no longer log in (%s on the hub); ask an admin", p.Username, reason)
	}
	return nil
}
