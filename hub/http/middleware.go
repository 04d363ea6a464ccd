package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiff/aiff/domain"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxAccess
)

// RequestID returns the request id of ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID takes X-Request-ID from the client when it is short and plain (so a load balancer's
// id threads through the logs), otherwise makes one, and echoes it in the response.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !requestIDRe.MatchString(id) {
			id = domain.NewID(time.Now())
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

// statusWriter records the status and size of a response. Unwrap lets http.ResponseController
// and WebSocket upgrades reach the underlying writer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		if w.status == 0 {
			w.status = http.StatusSwitchingProtocols
		}
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aiff_http_requests_total", Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aiff_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aiff_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
}

// observe writes the access log line and the request metrics. The route label is chi's
// pattern (e.g. /api/tickets/{id}), never the raw path, so ids cannot explode cardinality.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
			attrs := []slog.Attr{
				slog.String(logKeyRequestID, RequestID(r.Context())), slog.String(logKeyMethod, r.Method),
				slog.String(logKeyPath, r.URL.Path), slog.String(logKeyRoute, route),
				slog.Int(logKeyStatus, sw.status), slog.Int64(logKeyBytes, sw.bytes), slog.Duration(logKeyDuration, d),
			}
			if p, ok := domain.PrincipalFrom(r.Context()); ok {
				attrs = append(attrs, slog.String(logKeyUser, p.Actor()))
			}
			s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverer turns a handler panic into a logged 500 problem, so one bad request cannot take
// the process down or leak a stack trace.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.Error("handler panic", logKeyRequestID, RequestID(r.Context()),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // headers already sent; nothing more can be said
			}
			s.writeProblem(w, r, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers that are right for every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// cors answers cross-origin requests from CORSOrigins only; with none configured it does
// nothing, and browsers keep to the same-origin policy.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !(slices.Contains(s.CORSOrigins, origin) || slices.Contains(s.CORSOrigins, "*")) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies at MaxBodyBytes; reading past it fails with
// *http.MaxBytesError, which decoding turns into 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return s.limitBodyTo(s.MaxBodyBytes)(next)
}

// limitBodyTo caps request bodies at n bytes.
func (s *Server) limitBodyTo(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return s.handle(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength > n {
				return tooLarge(n)
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
			return nil
		})
	}
}

func tooLarge(n int64) error {
	return domain.Errorf(domain.CodeTooLarge, "request body is larger than %d bytes", n)
}

// authenticate requires a bearer access token and puts the caller in the context. Browsers
// cannot set headers on a WebSocket, so an upgrade request may instead carry the token in
// the access_token query parameter (sync/PROTOCOL.md §1). Tokens with a prefix registered in
// TokenAuthenticators (edge credentials) go to that authenticator.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		h := r.Header.Get("Authorization")
		if h == "" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			if qt := r.URL.Query().Get("access_token"); qt != "" {
				h = "Bearer " + qt
			}
		}
		scheme, tok, _ := strings.Cut(h, " ")
		if h == "" {
			return domain.Errorf(domain.CodeUnauthorized, "missing bearer token")
		}
		if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
			return domain.Errorf(domain.CodeUnauthorized, "authorization must be a bearer token")
		}
		var auth Authenticator = s.Auth
		for prefix, a := range s.TokenAuthenticators {
			if strings.HasPrefix(strings.TrimSpace(tok), prefix) {
				auth = a
			}
		}
		p, err := auth.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			if domain.ErrorCode(err) == domain.CodeInternal {
				return fmt.Errorf("authenticate: %w", err)
			}
			return err
		}
		if p.UserID != "" { // a user's token: are they still active, in which role and team?
			if p, err = s.currentUser(r.Context(), p); err != nil {
				return err
			}
		}
		next.ServeHTTP(w, r.WithContext(domain.WithPrincipal(r.Context(), p)))
		return nil
	})
}

// requirePerms enforces one route's row of the role table and records the caller's Access for
// the handler (OwnTeam narrows what a field user sees).
func (s *Server) requirePerms(p Perms) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return s.handle(func(w http.ResponseWriter, r *http.Request) error {
			pr, _ := domain.PrincipalFrom(r.Context())
			a := p.Of(pr.Role)
			if a == Deny {
				return domain.Errorf(domain.CodeForbidden, "role %q may not %s %s", pr.Role, r.Method, r.URL.Path)
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxAccess, a)))
			return nil
		})
	}
}

// accessFrom returns the caller's access to the current route (Allow outside the table).
func accessFrom(ctx context.Context) Access {
	if a, ok := ctx.Value(ctxAccess).(Access); ok {
		return a
	}
	return Allow
}

// RateLimiter decides whether a caller may make another request. The in-process TokenBucket
// is the default; a Redis implementation lets replicas share limits.
type RateLimiter interface {
	// Allow takes one request from key's budget; when refused it says how long to wait.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// rateLimitedError carries Retry-After to the problem writer.
type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string             { return "rate limited" }
func (e *rateLimitedError) RetryAfter() time.Duration { return e.wait }

// rateLimit applies RateLimiter per user (after authentication) or per client IP. A limiter
// failure (e.g. Redis down) lets the request through and is logged: limits protect the
// service, they should not take it down.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if s.RateLimiter == nil {
			next.ServeHTTP(w, r)
			return nil
		}
		key := "ip:" + s.clientIP(r)
		if p, ok := domain.PrincipalFrom(r.Context()); ok && p.UserID != "" {
			key = "user:" + p.UserID
		} else if ok && p.Node != "" {
			key = "node:" + p.Node
		}
		ok, wait, err := s.RateLimiter.Allow(r.Context(), key)
		if err != nil {
			s.Logger.Warn("rate limiter failed; allowing request", logKeyRequestID, RequestID(r.Context()), logKeyError, err)
			ok = true
		}
		if !ok {
			return &domain.Error{Code: domain.CodeTooManyRequests, Message: "too many requests; slow down",
				Err: &rateLimitedError{wait}}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// onlyQuery refuses query parameters a route does not document, so a typo (stauts=open) is a
// 400 naming it instead of a silently unfiltered list.
func (s *Server) onlyQuery(allowed []param) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return s.handle(func(w http.ResponseWriter, r *http.Request) error {
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				return domain.Errorf(domain.CodeInvalid, "malformed query string")
			}
			for k, v := range q {
				if !slices.ContainsFunc(allowed, func(p param) bool { return p.Name == k }) {
					return domain.FieldErrorf(k, "unknown query parameter %q", k)
				}
				if len(v) > 1 {
					return domain.FieldErrorf(k, "query parameter %q given %d times; use one comma-separated value", k, len(v))
				}
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
}

// clientIP is the caller's address: the socket peer, or the proxy headers with TrustProxy.
func (s *Server) clientIP(r *http.Request) string {
	if s.TrustProxy {
		if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); net.ParseIP(ip) != nil {
			return ip
		}
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := strings.TrimSpace(first); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
