package http

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aiff/aiff/domain"
)

// ProblemEdgeRevoked is the problem type of every data request to an edge whose hub
// credential was revoked: the edge has purged its replica and serves none of it (503).
const ProblemEdgeRevoked = ProblemBase + "edge-revoked"

// refuseRevoked answers 503 edge-revoked, with the hub's reason, once the credential is
// revoked: the replica is gone, and nothing cached may be served from it.
func (s *Server) refuseRevoked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := s.revokedReason(r.Context())
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(Problem{Type: ProblemEdgeRevoked, Title: "Edge revoked", Status: http.StatusServiceUnavailable,
			Detail: "this edge's hub credential was revoked (" + reason + "); its data was purged. Unsynced changes are in GET /api/sync/dead-letters"})
	})
}

func (s *Server) revokedReason(ctx context.Context) string {
	if s.Revoked == nil {
		return ""
	}
	return s.Revoked(ctx)
}

// authenticateOps admits the node's own edge credential (the operator holding it can export
// the dead letters even after a revocation, when no user can log in) or an admin or
// dispatcher token.
func (s *Server) authenticateOps(next http.Handler) http.Handler {
	users := s.authenticate(requireRole(domain.RoleAdmin, domain.RoleDispatcher)(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.EdgeToken != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.EdgeToken)) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		users.ServeHTTP(w, r)
	})
}
