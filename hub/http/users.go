package http

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
)

// DefaultUserCacheTTL is how long the hub trusts what it last read about a user when
// authenticating their access token. It bounds how long a user deactivated on another hub
// replica (or directly in the database) keeps access; on this replica PUT /api/users/{id}
// takes effect at once.
const DefaultUserCacheTTL = 5 * time.Second

var userListQuery = []param{
	{"team", "string", `team id, or "none" for users without a team`},
	{"role", "string", "comma-separated roles"},
	{"active", "boolean", "only active (true) or deactivated (false) users"},
}

// userCache remembers, per user id, the user row last read from the store, so that checking
// on every request that the caller still exists and is active costs one store read per user
// per TTL instead of one per request (the ticket list serves many concurrent clients).
type userCache struct {
	mu sync.Mutex
	m  map[string]cachedUser
}

type cachedUser struct {
	u  domain.User
	at time.Time
}

// maxCachedUsers bounds the cache; past it, expired entries are dropped on the next insert.
const maxCachedUsers = 10000

func (c *userCache) get(id string, now time.Time, ttl time.Duration) (domain.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return domain.User{}, false
	}
	return e.u, true
}

func (c *userCache) put(u domain.User, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedUser{}
	}
	if len(c.m) >= maxCachedUsers {
		for id, e := range c.m {
			if now.Sub(e.at) >= ttl || now.Before(e.at) {
				delete(c.m, id)
			}
		}
	}
	c.m[u.ID] = cachedUser{u: u, at: now}
}

func (s *Server) userCacheTTL() time.Duration {
	if s.UserCacheTTL > 0 {
		return s.UserCacheTTL
	}
	return DefaultUserCacheTTL
}

// currentUser checks that the user an access token speaks for still exists and is active,
// and takes their role and team from the user as they are now: a token outlives changes made
// after it was issued, the user row does not.
func (s *Server) currentUser(ctx context.Context, p domain.Principal) (domain.Principal, error) {
	now, ttl := s.Now(), s.userCacheTTL()
	u, ok := s.users.get(p.UserID, now, ttl)
	if !ok {
		var err error
		u, err = s.Store.GetUser(ctx, p.UserID)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return p, domain.Errorf(domain.CodeUnauthorized, "user no longer exists")
		}
		if err != nil {
			return p, fmt.Errorf("check user %s: %w", p.UserID, err)
		}
		s.users.put(u, now, ttl)
	}
	if !u.IsActive {
		return p, domain.Errorf(domain.CodeUnauthorized, "user %s is deactivated; ask an admin", u.Username)
	}
	p.Role, p.TeamID = u.Role, ""
	if u.TeamID != nil {
		p.TeamID = *u.TeamID
	}
	return p, nil
}

func userID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !domain.ValidID(id) {
		return "", domain.Errorf(domain.CodeNotFound, "user %q not found", id)
	}
	return id, nil
}

func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	roles, err := oneOf("role", queryList(q, "role"), domain.Role.Valid)
	if err != nil {
		return err
	}
	active, err := queryBool(q, "active")
	if err != nil {
		return err
	}
	team := first(q["team"])
	if team != "" && team != "none" && !domain.ValidID(team) {
		return domain.FieldErrorf("team", "team must be a team id or \"none\"")
	}
	users, err := s.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := users[:0]
	for _, u := range users {
		switch {
		case len(roles) > 0 && !containsRole(roles, u.Role):
		case active != nil && u.IsActive != *active:
		case team == "none" && u.TeamID != nil:
		case team != "" && team != "none" && (u.TeamID == nil || *u.TeamID != team):
		default:
			out = append(out, u)
		}
	}
	return writeJSON(w, http.StatusOK, list(out))
}

func containsRole(roles []domain.Role, r domain.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	u, err := s.Store.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// handleUserUpdate applies an admin's partial update. The new state goes into the user cache
// at once, so a deactivation locks the user out of this replica with the answer, not a TTL
// later; the store revokes their refresh tokens and logs the change that takes the news to
// the edges.
func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	var in domain.UserPatch
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	actor := principal(r).UserID
	u, err := s.Store.UpdateUser(r.Context(), id, func(u domain.User) (domain.User, error) {
		return in.Apply(u, actor)
	})
	if err != nil {
		return err
	}
	s.users.put(u, s.Now(), s.userCacheTTL())
	s.Logger.Info("user updated", logKeyUser, u.Username, "active", u.IsActive, "by", principal(r).Actor(),
		logKeyRequestID, RequestID(r.Context()))
	return writeJSON(w, http.StatusOK, u)
}
