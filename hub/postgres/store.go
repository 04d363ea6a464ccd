// Package postgres is the hub's store on PostgreSQL (pgx/v5, pgxpool): the source of truth when
// the hub runs as several replicas. It implements domain.Store with the same semantics as
// hub/sqlite, and both are held to one conformance suite (hub/storetest).
//
// Every write runs in one transaction that also appends its domain.Change to the change log;
// the change's Seq comes from `UPDATE counters … RETURNING` in that transaction, so the row
// lock orders writers and a rolled-back write gives its number back: the log is gap-free and
// commits in Seq order.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
)

var _ domain.Store = (*Store)(nil)

// Store is the hub store on PostgreSQL. Create it with NewStore, set the exported fields, then
// call Open; Close releases the pool.
type Store struct {
	// URL is a postgres:// connection string. Unknown query parameters become run-time
	// parameters of every connection (for example search_path=myschema), and pgxpool's own
	// pool_max_conns, if present, wins over MaxConns.
	URL string
	// Now gives the time of every timestamp the store sets (default time.Now). Tests inject a
	// clock here.
	Now func() time.Time
	// Logger receives migration progress (default: discard).
	Logger *slog.Logger
	// Clock is the hub's hybrid logical clock (node "hub"): it stamps every change the store
	// appends. Open moves it past every clock in the log, so a restart with a wall clock that
	// stepped back never reuses a reading. Tests inject one with a fake wall clock.
	Clock *hlc.Clock
	// MaxConns bounds the pool. The default, 4 per CPU and at least 8, keeps Postgres busy on
	// a small machine while many HTTP clients queue in the pool rather than in the server.
	MaxConns int32

	pool *pgxpool.Pool
	// trgm reports whether migration 0002 could build the trigram index for text search.
	trgm bool
	// rowCacheVal holds the merge states pushes built (sync_cache.go), made at first use.
	rowCacheVal  *syncstore.RowCache
	rowCacheOnce sync.Once
	// ingest tells background compaction when pushes are arriving (syncstore.Pace).
	ingest syncstore.Ingest
}

// NewStore returns a Store for url with defaults set; call Open before use.
func NewStore(url string) *Store {
	return &Store{
		URL:      url,
		Now:      time.Now,
		Logger:   slog.New(slog.DiscardHandler),
		Clock:    hlc.NewClock(domain.HubOrigin),
		MaxConns: int32(max(8, 4*runtime.NumCPU())),
	}
}

// Open connects, checks the server answers, and applies pending migrations under an advisory
// lock, so replicas starting together migrate once.
func (s *Store) Open(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Clock == nil {
		s.Clock = hlc.NewClock(domain.HubOrigin)
	}
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(s.URL, "pool_max_conns") && s.MaxConns > 0 {
		cfg.MaxConns = s.MaxConns
	}
	if cfg.MinConns == 0 {
		cfg.MinConns = min(2, cfg.MaxConns)
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "aiff-hub"
	}
	// Every timestamp is written and read in UTC; the session zone only affects text output.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("connect to postgres: %w", err)
	}
	s.pool = pool
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		s.pool = nil
		return err
	}
	if err := s.observeClock(ctx); err != nil {
		return err
	}
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'idx_tickets_search')`).Scan(&s.trgm); err != nil {
		return fmt.Errorf("check search index: %w", err)
	}
	return nil
}

// Close releases every connection. It is safe to call on a Store that never opened.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if s.pool == nil {
		return domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	if err := s.pool.Ping(ctx); err != nil {
		return domain.Errorf(domain.CodeUnavailable, "database unreachable")
	}
	return nil
}

// Pool returns the connection pool, for bulk loaders and tools that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// TextSearchIndexed reports whether ticket text search is served by the pg_trgm index; when the
// extension could not be created, search still works, by scanning.
func (s *Store) TextSearchIndexed() bool { return s.trgm }

// now returns the store clock in UTC, truncated to the microsecond that both databases keep.
func (s *Store) now() time.Time { return utc(s.Now()) }

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// tx is one write transaction with the time and caller it acts for.
type tx struct {
	pgx.Tx
	now       time.Time
	actor     string
	origin    string
	principal domain.Principal
	clock     *hlc.Clock
}

// maxAttempts bounds retries of a transaction that lost a deadlock or serialization race, or
// its connection before commit.
const maxAttempts = 5

// write runs fn in a read-committed transaction and commits it. fn may run more than once: a
// deadlock or serialization failure, or a connection lost before COMMIT was sent (the server
// then rolled back, so nothing happened), retries with a fresh clock reading. A connection lost
// during COMMIT is not retried, since the commit may have happened; it reads as CodeUnavailable.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	if s.pool == nil {
		return domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	p, _ := domain.PrincipalFrom(ctx)
	origin := domain.HubOrigin
	if p.Node != "" {
		origin = p.Node
	}
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		var retry bool
		retry, err = s.writeOnce(ctx, p, origin, fn)
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return translate(err)
}

func (s *Store) writeOnce(ctx context.Context, p domain.Principal, origin string, fn func(tx *tx) error) (retry bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	lost := func(err error) bool { return conn.Conn().IsClosed() || retryable(err) }
	ptx, err := conn.Begin(ctx)
	if err != nil {
		return lost(err), fmt.Errorf("begin: %w", err)
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	if err := fn(&tx{Tx: ptx, now: s.now(), actor: p.Actor(), origin: origin, principal: p, clock: s.Clock}); err != nil {
		return lost(err), err
	}
	if err := ptx.Commit(ctx); err != nil {
		return retryable(err), fmt.Errorf("commit: %w", err)
	}
	return false, nil
}

// retryable reports whether err is a transient conflict worth running the transaction again:
// serialization failure or deadlock, both of which roll the transaction back.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func trunc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return utc(t)
}
