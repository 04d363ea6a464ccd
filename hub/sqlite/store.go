// Package sqlite is the hub's embedded store: domain.Store on one SQLite file through
// modernc.org/sqlite (no cgo). It is what `aiff demo` and a hub without a database URL run on.
//
// The file is opened twice: one writer connection, through which every write transaction goes
// one at a time (BEGIN IMMEDIATE, so a transaction never has to upgrade a read lock and can
// never deadlock with another writer), and a pool of read-only connections that, thanks to WAL,
// read a consistent snapshot without waiting for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/migrations"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"

	sqlitedrv "modernc.org/sqlite"
)

var _ domain.Store = (*Store)(nil)

// Store is the hub store on an SQLite file. Set the exported fields before Open.
type Store struct {
	// Path is the database file; it and its directory are created by Open if missing.
	Path string
	// Now is the clock for every timestamp the store sets (default time.Now). Values are
	// truncated to microseconds and kept in UTC.
	Now func() time.Time
	// Logger receives migration progress (default: discard).
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another process
	// (default 5 s).
	BusyTimeout time.Duration
	// MaxReaders bounds the read pool (default max(4, GOMAXPROCS)).
	MaxReaders int
	// Clock is the hub's hybrid logical clock (node "hub"): it stamps every change the store
	// appends and takes in the clocks of pushed changes. Open moves it past every clock in the
	// log. Tests inject one with a fake wall clock.
	Clock *hlc.Clock

	writer *sql.DB
	reader *sql.DB
	// rowCacheVal holds the merge states pushes built (sync_cache.go), made at first use.
	rowCacheVal  *syncstore.RowCache
	rowCacheOnce sync.Once
	// ingest tells background compaction when pushes are arriving (syncstore.Pace).
	ingest syncstore.Ingest
}

// NewStore returns a Store for the file at path with defaults; call Open before use.
func NewStore(path string) *Store {
	return &Store{
		Path:        path,
		Now:         time.Now,
		Logger:      slog.New(slog.DiscardHandler),
		BusyTimeout: 5 * time.Second,
		MaxReaders:  max(4, runtime.GOMAXPROCS(0)),
		Clock:       hlc.NewClock(domain.HubOrigin),
	}
}

// Open creates the file if needed, configures it and applies pending migrations. It is safe
// for several processes to Open the same file at once: each migration runs in a BEGIN
// IMMEDIATE transaction that first re-checks schema_migrations, so exactly one applies it.
func (s *Store) Open(ctx context.Context) (err error) {
	if s.Path == "" {
		return fmt.Errorf("open sqlite store: empty path")
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.BusyTimeout <= 0 {
		s.BusyTimeout = 5 * time.Second
	}
	if s.MaxReaders <= 0 {
		s.MaxReaders = max(4, runtime.GOMAXPROCS(0))
	}
	if dir := filepath.Dir(s.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// synchronous=NORMAL: in WAL mode a commit is appended to the WAL file and written to the
	// OS before Commit returns, so a crash of the process (kill -9) cannot lose it; only a
	// power loss or kernel crash can drop the last transactions, which is the trade SQLite
	// recommends for WAL and saves an fsync per commit. FULL would fsync on every commit.
	q := url.Values{}
	q.Add("_busy_timeout", fmt.Sprint(s.BusyTimeout.Milliseconds()))
	q.Add("_foreign_keys", "1")
	q.Add("_synchronous", "NORMAL")
	q.Add("_txlock", "immediate")
	if s.writer, err = sql.Open("sqlite", fileURI(s.Path)+"?"+q.Encode()); err != nil {
		return fmt.Errorf("open sqlite writer: %w", err)
	}
	// One connection: writes are serialized by the pool itself, in Go, so they never contend
	// for SQLite's write lock inside this process.
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	// Switching to WAL needs an exclusive lock; a concurrent opener may hold one briefly, so
	// the busy timeout covers it. WAL is a property of the file, so readers inherit it.
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set wal: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("set wal: journal mode is %q", mode)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.observeClock(ctx); err != nil {
		return err
	}

	rq := url.Values{}
	rq.Add("_busy_timeout", fmt.Sprint(s.BusyTimeout.Milliseconds()))
	rq.Add("_foreign_keys", "1")
	rq.Add("_query_only", "1")
	if s.reader, err = sql.Open("sqlite", fileURI(s.Path)+"?"+rq.Encode()); err != nil {
		return fmt.Errorf("open sqlite readers: %w", err)
	}
	s.reader.SetMaxOpenConns(s.MaxReaders)
	s.reader.SetMaxIdleConns(s.MaxReaders)
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite readers: %w", err)
	}
	return nil
}

// migrate applies every migration not yet recorded in schema_migrations, each in its own
// BEGIN IMMEDIATE transaction (the write lock is the migration lock).
func (s *Store) migrate(ctx context.Context) error {
	list, err := migrations.List(migrations.SQLite)
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range list {
		applied, err := s.applyMigration(ctx, m)
		if err != nil {
			return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
		}
		if applied {
			s.Logger.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migrations.Migration) (applied bool, err error) {
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.Version, m.Name, micros(s.Now())); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
		s.reader = nil
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
		s.writer = nil
	}
	return errors.Join(errs...)
}

// DB returns the writer connection pool (one connection) for bulk loaders that need raw SQL,
// such as the seeder. Writes made through it bypass the change log; callers own that choice.
func (s *Store) DB() *sql.DB { return s.writer }

// Ping checks both pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if s.writer == nil || s.reader == nil {
		return domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return s.writer.PingContext(ctx)
}

// now is the store clock, truncated to the microsecond precision both stores keep.
func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// tx is one write transaction: the SQL transaction, its single clock reading and the caller.
type tx struct {
	*sql.Tx
	now    time.Time
	origin string
	actor  string
	clock  *hlc.Clock
}

// write runs fn in a write transaction and commits it when fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	if s.writer == nil {
		return domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return translate(fmt.Errorf("begin: %w", err))
	}
	defer sqlTx.Rollback()
	t := &tx{Tx: sqlTx, now: s.now(), origin: domain.HubOrigin, actor: "system", clock: s.Clock}
	if p, ok := domain.PrincipalFrom(ctx); ok {
		t.actor = p.Actor()
		if p.Node != "" {
			t.origin = p.Node
		}
	}
	if err := fn(t); err != nil {
		return translate(err)
	}
	if err := sqlTx.Commit(); err != nil {
		return translate(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// SQLite result codes the store translates (extended codes for constraints).
const (
	codeBusy        = 5
	codeLocked      = 6
	codeConstraint  = 19
	codeForeignKey  = 787
	codePrimaryKey  = 1555
	codeUnique      = 2067
	codeNotNull     = 1299
	codeCheck       = 275
	codeBusySnap    = 517
	codeBusyTimeout = 773
)

// translate maps driver errors to domain errors without leaking driver text; domain errors
// and anything unknown pass through (unknown errors become CodeInternal at the API).
func translate(err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &domain.Error{Code: domain.CodeNotFound, Message: "not found", Err: err}
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case codeUnique, codePrimaryKey:
			return &domain.Error{Code: domain.CodeConflict, Message: "already exists", Err: err}
		case codeForeignKey:
			return &domain.Error{Code: domain.CodeInvalid, Message: "refers to an unknown entity", Err: err}
		case codeBusy, codeLocked, codeBusySnap, codeBusyTimeout:
			return &domain.Error{Code: domain.CodeUnavailable, Message: "database is busy, retry", Err: err}
		}
	}
	return err
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && (se.Code() == codeUnique || se.Code() == codePrimaryKey)
}

// micros encodes t as unix microseconds, the column type of every time.
func micros(t time.Time) int64 { return t.UnixMicro() }

func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// truncPtr returns *t truncated to microseconds in UTC, as stored.
func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := trunc(*t)
	return &v
}

func trunc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func nullFloat(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

func nullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

func ptrArg[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// placeholders returns "?, ?, …" for n values and the values as []any.
func inList[T ~string](vals []T) (string, []any) {
	ph := make([]string, len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = "?"
		args[i] = string(v)
	}
	return strings.Join(ph, ", "), args
}

// fileURI makes an SQLite "file:" URI for path. '%', '?' and '#' are escaped so that a
// directory name holding them (a fuzz corpus entry "seed#0", say) opens that file and not
// another one cut short at a URI fragment.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
