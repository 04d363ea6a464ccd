package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	hubhttp "github.com/aiff/aiff/hub/http"
	syncserver "github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
	"github.com/aiff/aiff/web"
)

// hubFlags are the flags of `aiff hub` (and the hub half of `aiff demo`).
type hubFlags struct {
	dbFlags
	addr      string
	redis     string
	rateLimit float64
}

func (f *hubFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	f.dbFlags.register(fs, getenv)
	fs.StringVar(&f.addr, "addr", envOr(getenv, "AIFF_ADDR", ":8085"), "listen address")
	fs.StringVar(&f.redis, "redis", getenv("REDIS_URL"), "Redis URL for cross-replica fan-out and shared limits (empty = in-process)")
	rl, _ := strconv.ParseFloat(envOr(getenv, "AIFF_RATE_LIMIT", "20"), 64)
	fs.Float64Var(&f.rateLimit, "rate-limit", rl, "requests per second per caller (burst 5x); 0 disables")
}

func (f *hubFlags) validate() error {
	if f.redis != "" {
		u, err := url.Parse(f.redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return fmt.Errorf("--redis: want redis://host:port, got %q", f.redis)
		}
	}
	if f.rateLimit < 0 {
		return errors.New("--rate-limit must not be negative")
	}
	return nil
}

func runHub(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f hubFlags
	f.register(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	logger := newLogger(getenv, stderr)
	store, err := f.open(ctx, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := newHubServer(&f, store, getenv, logger)
	if err != nil {
		return err
	}
	if err := srv.Open(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "AIFF hub listening on %s\n", srv.URL())
	<-ctx.Done()
	return shutdown(srv)
}

// newHubServer wires the HTTP server to the store, the token issuer and the web UI.
func newHubServer(f *hubFlags, store hubStore, getenv func(string) string, logger *slog.Logger) (*hubhttp.Server, error) {
	issuer, err := auth.NewIssuer(getenv("JWT_SECRET_KEY"), f.data)
	if err != nil {
		return nil, fmt.Errorf("token issuer: %w", err)
	}
	if v := getenv("JWT_EXPIRE_MINUTES"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			return nil, fmt.Errorf("JWT_EXPIRE_MINUTES: want a positive number of minutes, got %q", v)
		}
		issuer.TTL = time.Duration(m) * time.Minute
	}
	if f.redis != "" {
		logger.Warn("REDIS_URL is set but this build fans out in-process; Redis fan-out arrives with multi-replica sync", "redis", f.redis)
	}
	srv := hubhttp.NewServer()
	srv.Addr = f.addr
	srv.Store = store
	srv.Auth = auth.NewService(store, issuer)
	srv.Logger = logger
	srv.Web = web.FS
	if f.rateLimit == 0 {
		srv.RateLimiter = nil
	} else {
		srv.RateLimiter = hubhttp.NewTokenBucket(f.rateLimit, f.rateLimit*5)
	}
	if ss, ok := store.(syncserver.Store); ok {
		sh := syncserver.New(ss)
		sh.Logger = logger.With("component", "sync")
		if sh.Compaction, err = hubCompaction(store, getenv); err != nil {
			return nil, err
		}
		if sh.Compaction != nil {
			sh.Compaction.Logger = sh.Logger
		}
		srv.TokenAuthenticators = map[string]hubhttp.Authenticator{syncstore.EdgeTokenPrefix: edgeAuth{ss}}
		srv.MountWithLimit("/api/sync", sh, wire.DefaultLimits.MaxFrameBytes)
		srv.OnShutdown = append(srv.OnShutdown, sh.Close)
		sh.Start() // the fan-out and the compaction job run from now until shutdown
	}
	return srv, nil
}

// edgeAuth authenticates edge tokens (aiffe_…) against the store's edge credentials.
type edgeAuth struct{ s syncstore.Store }

func (a edgeAuth) Authenticate(ctx context.Context, token string) (domain.Principal, error) {
	return a.s.AuthenticateEdge(ctx, token)
}

// shutdownTimeout bounds a graceful drain; a second signal exits at once anyway.
const shutdownTimeout = 20 * time.Second

// shutdown drains the server; the caller closes the store afterwards.
func shutdown(srv *hubhttp.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
