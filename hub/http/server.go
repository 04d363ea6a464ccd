// Package http is the hub's HTTP API: a chi router whose routes, role rules and OpenAPI
// document all come from one route table (routes.go), handlers that return errors, one
// problem+json writer, and the middleware around them (request id, access log, recoverer,
// metrics, authentication, roles, rate limits, CORS). It also serves the embedded web UI.
// Import it as hubhttp.
package http

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
)

// Constant log keys, so log queries do not depend on who wrote the line.
const (
	logKeyRequestID = "request_id"
	logKeyMethod    = "method"
	logKeyPath      = "path"
	logKeyRoute     = "route"
	logKeyStatus    = "status"
	logKeyDuration  = "duration"
	logKeyBytes     = "bytes"
	logKeyUser      = "user"
	logKeyError     = "error"
	logKeyAddr      = "addr"
)

// Authenticator turns a bearer token into the caller. *auth.Service implements it; edge
// credentials can be added behind the same method.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (domain.Principal, error)
}

// Sessions is the login/refresh/logout side of authentication (*auth.Service).
type Sessions interface {
	Authenticator
	Login(ctx context.Context, username, password, clientIP string) (auth.Session, error)
	Refresh(ctx context.Context, refreshToken string) (auth.Session, error)
	Logout(ctx context.Context, refreshToken string) error
}

// Server is the hub's HTTP server. Create it with NewServer, set the exported fields, then call
// Open (to listen on Addr) or use Handler directly (httptest). Fields must not change after the
// first call to Handler or Open.
type Server struct {
	Addr         string       // listen address, e.g. ":8085"; ":0" picks a free port
	Store        domain.Store // required
	Auth         Sessions     // required; usually *auth.Service
	Logger       *slog.Logger
	Web          fs.FS            // web root (web.FS); nil serves no UI
	Now          func() time.Time // clock for ticket changes and analytics
	MaxBodyBytes int64            // request body limit; larger bodies get 413
	// RateLimiter limits API requests per caller (user id, else client IP); nil disables.
	RateLimiter RateLimiter
	// CORSOrigins lists origins allowed to call the API from a browser; empty = CORS off
	// (same-origin only), which is right when the UI is served by the hub itself.
	CORSOrigins []string
	// TrustProxy makes the client IP come from X-Forwarded-For / X-Real-IP (set it only behind
	// a load balancer that overwrites them), for login throttling and rate limits.
	TrustProxy bool
	// ShutdownTimeout bounds Close when its ctx has no deadline.
	ShutdownTimeout time.Duration
	// Collectors are extra Prometheus collectors served on /metrics, next to the HTTP ones
	// and the store's (if it has a Collectors() method).
	Collectors []prometheus.Collector
	// TokenAuthenticators authenticate bearer tokens by prefix before Auth sees them: a
	// token starting with a key (e.g. "aiffe_" for edge credentials) goes to that
	// authenticator only.
	TokenAuthenticators map[string]Authenticator
	// OnShutdown functions run when Close begins (net/http RegisterOnShutdown), for mounted
	// modules that hold hijacked connections, such as WebSocket streams, which Shutdown does
	// not wait for.
	OnShutdown []func()
	// UserCacheTTL is how long a user read while authenticating is trusted
	// (DefaultUserCacheTTL when 0); see userCache.
	UserCacheTTL time.Duration

	mounts []mount
	users  userCache

	once    sync.Once
	handler http.Handler
	metrics *httpMetrics
	reg     *prometheus.Registry
	// metricsHandler serves this server's registry (HTTP and store metrics) merged with the
	// default one (Go runtime, process, and package-level aiff_ metrics of other modules).
	metricsHandler http.Handler
	openapi        []byte

	ln       net.Listener
	srv      *http.Server
	serveWG  sync.WaitGroup
	serveMu  sync.Mutex
	serveErr error
}

type mount struct {
	pattern string
	h       http.Handler
	maxBody int64 // 0: MaxBodyBytes
}

// NewServer returns a server with defaults: Addr ":8085", 1 MiB bodies, a per-caller token
// bucket of 20 requests/s (burst 100), a discarding logger and the wall clock.
func NewServer() *Server {
	return &Server{
		Addr:            ":8085",
		Logger:          slog.New(slog.DiscardHandler),
		Now:             time.Now,
		MaxBodyBytes:    1 << 20,
		RateLimiter:     NewTokenBucket(20, 100),
		ShutdownTimeout: 15 * time.Second,
	}
}

// Mount attaches h under pattern (e.g. "/api/sync") behind the standard middleware and
// bearer authentication: h finds the caller with domain.PrincipalFrom and does its own role
// checks. It is for modules wired by cmd/aiff (analytics, AI, sync) and must be called before
// Handler or Open. Mounted routes are documented by their own packages, not openapi.json.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mounts = append(s.mounts, mount{pattern: pattern, h: h})
}

// MountWithLimit is Mount with its own request body limit instead of MaxBodyBytes, for
// protocols whose messages are larger than API bodies (sync push frames: 8 MiB).
func (s *Server) MountWithLimit(pattern string, h http.Handler, maxBody int64) {
	s.mounts = append(s.mounts, mount{pattern: pattern, h: h, maxBody: maxBody})
}

// Handler returns the server's root handler (built once from the current fields).
func (s *Server) Handler() http.Handler {
	s.once.Do(s.build)
	return s.handler
}

func (s *Server) build() {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 1 << 20
	}
	s.metrics = newHTTPMetrics()
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(s.metrics.requests, s.metrics.duration, s.metrics.inflight)
	if c, ok := s.Store.(interface{ Collectors() []prometheus.Collector }); ok {
		for _, col := range c.Collectors() {
			if err := s.reg.Register(col); err != nil {
				s.Logger.Warn("store collector not registered", logKeyError, err)
			}
		}
	}
	for _, col := range s.Collectors {
		if err := s.reg.Register(col); err != nil {
			s.Logger.Warn("collector not registered", logKeyError, err)
		}
	}
	s.metricsHandler = promhttp.HandlerFor(prometheus.Gatherers{s.reg, prometheus.DefaultGatherer},
		promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)})
	r := chi.NewRouter()
	s.routes(r)
	s.openapi = s.buildOpenAPI()
	s.handler = r
}

// Open starts listening on Addr and serving in the background. Use URL or Port to find the
// bound address when Addr is ":0".
func (s *Server) Open() error {
	if s.Store == nil || s.Auth == nil {
		return errors.New("http server: Store and Auth are required")
	}
	h := s.Handler()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler: h,
		// No ReadTimeout/WriteTimeout: mounted WebSocket streams are long-lived and keep the
		// connection deadlines after hijacking. Bodies are bounded by MaxBodyBytes instead.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	for _, f := range s.OnShutdown {
		s.srv.RegisterOnShutdown(f)
	}
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveMu.Lock()
			s.serveErr = err
			s.serveMu.Unlock()
			s.Logger.Error("http server stopped", logKeyError, err)
		}
	}()
	s.Logger.Info("http server listening", logKeyAddr, ln.Addr().String())
	return nil
}

// Port is the bound TCP port after Open, 0 before.
func (s *Server) Port() int {
	if s.ln == nil {
		return 0
	}
	return s.ln.Addr().(*net.TCPAddr).Port
}

// URL is the server's base URL after Open, e.g. "http://localhost:8085".
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	host := "localhost"
	if a := s.ln.Addr().(*net.TCPAddr); !a.IP.IsUnspecified() {
		host = a.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// Close stops accepting connections and waits for in-flight requests to finish, until ctx is
// done (or ShutdownTimeout if ctx has no deadline); then it closes the remaining connections.
// It does not close the Store, which the caller owns.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok && s.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.ShutdownTimeout)
		defer cancel()
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("graceful shutdown: %w", err), s.srv.Close())
	}
	s.serveWG.Wait()
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	return errors.Join(err, s.serveErr)
}
