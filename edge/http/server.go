// Package http is the edge node's local API: the hub's ticket, team and zone endpoints for the
// edge's zones, with the same JSON, served from the edge's replica so that they keep working
// while the hub is unreachable; login for the zone's users, with tokens the edge issues
// itself; the sync digest; health and metrics; and the field portal (web.FS). Import it as
// edgehttp.
//
// Login: the hub never sends password hashes, so an edge cannot check a password it has not
// seen. With the hub reachable, POST /api/auth/login asks the hub and, on success, caches an
// argon2id hash of the password (and the user) in the edge database; with the hub down, only
// users who have logged in through this edge before can log in, against that hash, and not
// if the replicated user row says inactive. Either way the access token is the edge's own
// (EdDSA, key in the data dir, issuer "aiff-edge:<node>"), valid on this edge only, for a
// shift (8 h) and without a refresh token.
//
// Writes go to edge/sqlite, which commits each one with its outbox entry before the handler
// answers: a 2xx answer means the change is durable on this edge and will reach the hub.
package http

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/hub/auth"
)

// Constant log keys.
const (
	logKeyMethod = "method"
	logKeyPath   = "path"
	logKeyError  = "error"
	logKeyUser   = "user"
)

// HubLogin checks a username and password with the hub and returns the user the hub knows.
// It returns CodeUnauthorized when the hub refuses the credentials, CodeTooManyRequests when
// it throttles, and any other error when the hub cannot be asked (then the edge falls back to
// its cached credentials).
type HubLogin func(ctx context.Context, username, password string) (domain.User, error)

// Server is the local API. Set the fields, then use Handler.
type Server struct {
	Store  *sqlite.Store // required
	Tokens *auth.Issuer  // required: signs and verifies the edge's access tokens
	// HubLogin, if set, is tried first for every login; nil means offline logins only.
	HubLogin HubLogin
	// Throttle limits failed logins per username (default 5 then exponential lockout).
	Throttle auth.Throttle
	Web      fs.FS // field portal root (web.FS); nil serves no UI
	Logger   *slog.Logger
	// Health answers /healthz: a JSON body and whether the node is healthy.
	Health func(ctx context.Context) (any, bool)
	// Metrics serves /metrics.
	Metrics http.Handler
	// OnWrite is called after every committed local write (wakes the push loop).
	OnWrite func()
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Now is the clock for domain rules (default time.Now).
	Now func() time.Time
	// EdgeToken is this node's own hub credential. Besides the node's users, a caller holding
	// it may read the sync digest (the hub-side tooling that compares replicas uses it).
	EdgeToken string
	// Revoked returns the hub's reason once it revoked this edge's credential ("" while
	// live); from then on every data route answers 503 edge-revoked (revoked.go).
	Revoked func(ctx context.Context) string
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 1 << 20
	}
	if s.Throttle == nil {
		s.Throttle = auth.NewMemoryThrottle(5)
	}
	r := chi.NewRouter()
	r.Use(s.recoverer, securityHeaders, s.limitBody)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(codeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
	}))

	r.Get("/healthz", s.handle(s.handleHealthz))
	r.Get("/readyz", s.handle(s.handleReadyz))
	if s.Metrics != nil {
		r.Handle("/metrics", s.Metrics)
	}
	r.With(s.authenticateOps).Get("/api/sync/dead-letters", s.handle(s.handleDeadLetters))
	r.With(s.refuseRevoked).Post("/api/auth/login", s.handle(s.handleLogin))
	r.Post("/api/auth/logout", s.handle(s.handleLogout))
	r.With(s.refuseRevoked).Post("/api/auth/refresh", s.handle(s.handleRefresh))
	r.With(s.refuseRevoked, s.authenticateDigest).Get("/api/sync/digest", s.handle(s.handleDigest))

	r.Group(func(r chi.Router) {
		r.Use(s.refuseRevoked, s.authenticate)
		r.Get("/api/auth/me", s.handle(s.handleMe))
		r.Get("/api/auth/teams", s.handle(s.handleTeamList))
		r.Get("/api/auth/teams/{id}", s.handle(s.handleTeamGet))
		r.Get("/api/zones", s.handle(s.handleZoneList))
		r.Get("/api/tickets", s.handle(s.handleTicketList))
		r.Get("/api/tickets/{id}", s.handle(s.handleTicketGet))
		r.Put("/api/tickets/{id}", s.handle(s.handleTicketUpdate))
		r.Get("/api/tickets/{id}/notes", s.handle(s.handleNoteList))
		r.Post("/api/tickets/{id}/notes", s.handle(s.handleNoteCreate))
		r.Group(func(r chi.Router) {
			r.Use(requireRole(domain.RoleAdmin, domain.RoleDispatcher))
			r.Post("/api/tickets", s.handle(s.handleTicketCreate))
			r.Post("/api/tickets/assign", s.handle(s.handleTicketAssign))
			r.Delete("/api/tickets/{id}", s.handle(s.handleTicketDelete))
		})
	})

	if s.Web != nil {
		r.Get("/", s.handle(func(w http.ResponseWriter, r *http.Request) error { return s.serveFile(w, r, "field.html") }))
		r.Get("/field", s.handle(func(w http.ResponseWriter, r *http.Request) error { return s.serveFile(w, r, "field.html") }))
		r.Get("/index.html", s.handle(func(w http.ResponseWriter, r *http.Request) error { return s.serveFile(w, r, "index.html") }))
		assets := http.FileServer(http.FS(s.Web))
		r.Get("/*", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				s.writeProblem(w, r, domain.Errorf(domain.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
				return
			}
			assets.ServeHTTP(w, r)
		})
	}
	return r
}

// handle adapts a handler that returns an error; writeProblem is the only error writer.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeProblem(w, r, err)
		}
	}
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) error {
	b, err := fs.ReadFile(s.Web, name)
	if err != nil {
		return domain.Errorf(domain.CodeNotFound, "%s not found", name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
	return nil
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("handler panic", logKeyMethod, r.Method, logKeyPath, r.URL.Path, "panic", v)
				s.writeProblem(w, r, domain.Errorf(domain.CodeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate requires a valid edge access token and puts its principal in the context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			s.writeProblem(w, r, domain.Errorf(domain.CodeUnauthorized, "missing bearer token"))
			return
		}
		c, err := s.Tokens.Verify(strings.TrimSpace(tok))
		var p domain.Principal
		if err == nil {
			p, err = s.currentPrincipal(r.Context(), c.Principal())
		}
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(domain.WithPrincipal(r.Context(), p)))
	})
}

// authenticateDigest admits the node's own edge credential or any of its users' tokens: a
// digest says when the zone's data changed, which is not for anonymous callers.
func (s *Server) authenticateDigest(next http.Handler) http.Handler {
	users := s.authenticate(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.EdgeToken != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.EdgeToken)) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		users.ServeHTTP(w, r)
	})
}

func requireRole(roles ...domain.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeProblemStatic(w, r, domain.Errorf(domain.CodeForbidden, "role %s may not %s %s", p.Role, r.Method, r.URL.Path))
		})
	}
}

func principal(r *http.Request) domain.Principal {
	p, _ := domain.PrincipalFrom(r.Context())
	return p
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	if s.Health == nil {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	body, ok := s.Health(r.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	return writeJSON(w, status, body)
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.Ping(r.Context()); err != nil {
		return domain.Errorf(domain.CodeUnavailable, "database unavailable")
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleDigest(w http.ResponseWriter, r *http.Request) error {
	zone := strings.TrimSpace(r.URL.Query().Get("zone"))
	if zone == "" {
		return domain.FieldErrorf("zone", "zone is required")
	}
	d, err := s.Store.Digest(r.Context(), zone)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleDeadLetters(w http.ResponseWriter, r *http.Request) error {
	dl, err := s.Store.DeadLetters(r.Context(), 500)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": dl})
}

// writeJSON writes v as JSON with status; HTML-significant characters are escaped.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}
