// Package sqlite is the edge node's store: a replica of the hub rows in the edge's zones, kept
// as sync/merge rows on one SQLite file (modernc.org/sqlite, WAL), plus the outbox of changes
// made on this edge that the hub has not acknowledged yet.
//
// The invariants it keeps (ARCHITECTURE.md, invariants 1–4):
//
//   - A local write is committed in the same transaction as its outbox entry, its new row
//     state and the clock state, so an acknowledged write survives kill -9 at any instant.
//   - Every local change gets a monotonic ULID (domain.NewID) and an HLC from the store's
//     clock, whose last reading is persisted with every change that uses it, so the clock never
//     goes backwards across restarts.
//   - Remote changes and the cursor they advance to commit together (ApplyRemote), and merge
//     makes applying a change twice, or out of order, a no-op.
//   - A row's visible state is merge.Replay of the hub's changes plus this edge's pending ones.
//     A change the hub rejects moves to the dead-letter list and drops out of the row.
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
	"github.com/aiff/aiff/sync/hlc"

	_ "modernc.org/sqlite"
)

// schemaVersion is stored in PRAGMA user_version. The edge database is a cache of the hub plus
// an outbox; a future incompatible schema migrates the outbox and re-pulls the rest.
const schemaVersion = 1

// pageSize is the page size of a new edge file. A ticket with one change stores ~1.5 KB
// (state and doc; it was ~4 KB before the compact state form, state.go): with SQLite's
// default 4 KB pages a row of the WITHOUT ROWID rows table keeps under 1 KB in its leaf and
// spills the rest to an overflow page of its own (two page writes per row, each written to
// the WAL and again by the checkpoint); 16 KB pages hold such rows whole, several to a page,
// which made a snapshot load ~2.5x faster (TestMeasureBootstrap) and list scans read fewer
// pages. Larger pages would make every small live-sync write cost more WAL bytes.
const pageSize = 16384

// writerCacheKiB is the writer connection's page cache. SQLite's default, 2 MiB, is 125
// pages of pageSize: a sync batch that saves a few hundred rows touches more pages than that
// (rows, five indexes, outbox), so the cache spilled dirty pages to the WAL in the middle of
// the transaction (the same page again at commit) and read evicted pages back from the file,
// a tenth of the CPU of applying batches in BenchmarkApplyRemote. SQLite allocates the
// pages as it uses them; readers keep the default (every write empties their caches anyway).
const writerCacheKiB = 32 << 10

// walCheckpointPages is how many pages the WAL holds before a commit checkpoints it, outside
// a bootstrap (snapshot.go): 4096 (64 MiB) rather than SQLite's 1000. A checkpoint copies
// every page in the WAL into the database file and ends in two fsyncs, which the committing
// transaction waits for; sync batches rewrite the same pages (a zone's hot rows, the list
// indexes, the outbox) batch after batch, so checkpointing a quarter as often copies each a
// quarter as often. In BenchmarkApplyRemote the checkpoints' CPU went from 0.35 s to 0.11 s
// of 2.6 s, and the time per change from ~170 µs to ~115 µs. A commit is as safe as before
// against kill -9 (it is in the WAL either way); against power loss synchronous=NORMAL
// already leaves the latest commits to the OS's write-back (Linux writes dirty pages out
// within about 30 s), whatever the interval.
const walCheckpointPages = 4096

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
-- One row per replicated row: its merge state (every change seen, confirmed and pending), its
-- visible document, and columns extracted from the document for list queries.
CREATE TABLE IF NOT EXISTS rows (
	entity        TEXT NOT NULL,
	id            TEXT NOT NULL,
	zone          TEXT NOT NULL DEFAULT '',
	deleted       INTEGER NOT NULL DEFAULT 0,
	doc           TEXT NOT NULL,
	state         TEXT NOT NULL,
	status        TEXT NOT NULL DEFAULT '',
	priority_rank INTEGER NOT NULL DEFAULT 0,
	assigned_team TEXT NOT NULL DEFAULT '',
	due_date      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL DEFAULT 0,
	updated_at    INTEGER NOT NULL DEFAULT 0,
	number        TEXT NOT NULL DEFAULT '',
	name          TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (entity, id)
) WITHOUT ROWID;
-- The rows table's list indexes are rowsIndexes (snapshot.go).
-- Changes made on this edge, in the order they were made. status: pending (not yet accepted
-- by the hub), acked (in the hub's log at hub_seq) or dead (rejected; see dead_letters).
CREATE TABLE IF NOT EXISTS outbox (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	change_id  TEXT NOT NULL UNIQUE,
	entity     TEXT NOT NULL,
	entity_id  TEXT NOT NULL,
	change     TEXT NOT NULL,
	status     TEXT NOT NULL DEFAULT 'pending',
	attempts   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	hub_seq    INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
-- Changes the hub refused, with its reason; their effect was removed from the rows.
CREATE TABLE IF NOT EXISTS dead_letters (
	change_id  TEXT PRIMARY KEY,
	outbox_seq INTEGER NOT NULL,
	change     TEXT NOT NULL,
	code       TEXT NOT NULL,
	reason     TEXT NOT NULL,
	at         INTEGER NOT NULL
);
-- Password hashes of users who logged in through this edge while the hub was reachable, so
-- that they can log in again while it is not (the hub never sends password hashes).
CREATE TABLE IF NOT EXISTS credentials (
	username      TEXT PRIMARY KEY COLLATE NOCASE,
	user_id       TEXT NOT NULL,
	doc           TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	updated_at    INTEGER NOT NULL
);
`

// Meta keys.
const (
	metaNode   = "node_id"
	metaCursor = "cursor"
	metaHLC    = "hlc"
)

// Store is the edge replica on an SQLite file. Set the exported fields before Open.
type Store struct {
	// Path is the database file; it and its directory are created by Open if missing.
	Path string
	// Node is this edge's node id (the origin of its changes and its clock's node). If empty,
	// Open uses the id stored in the file, or makes and stores "edge-<ulid>". Once stored, a
	// different non-empty Node is refused: changes already made carry the stored one.
	Node string
	// Now is the clock for timestamps the store sets; values are truncated to microseconds in
	// UTC, the canonical form the hub uses. Default time.Now.
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another process.
	BusyTimeout time.Duration

	// Clock is the node's hybrid logical clock, created by Open and moved past the last
	// reading stored in the file.
	Clock *hlc.Clock

	// RowCache is how many rows' merge state the write path keeps decoded in memory
	// (default 4096; negative: none).
	RowCache int

	writer *sql.DB
	reader *sql.DB
	wmu    sync.Mutex // held by every write transaction (and the cache and statements with it)
	cache  rowCache
	// prepared are statements prepared on the writer, by query text (see tx.stmt).
	prepared map[string]*sql.Stmt
}

// NewStore returns a Store for the file at path with defaults; call Open before use.
func NewStore(path string) *Store {
	return &Store{
		Path:        path,
		Now:         time.Now,
		Logger:      slog.New(slog.DiscardHandler),
		BusyTimeout: 5 * time.Second,
		RowCache:    4096,
	}
}

// Open creates or opens the file, applies the schema and loads the node id and clock state.
func (s *Store) Open(ctx context.Context) (err error) {
	if s.Path == "" {
		return fmt.Errorf("open edge store: empty path")
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
	switch {
	case s.RowCache == 0:
		s.cache = rowCache{max: 4096}
	case s.RowCache > 0:
		s.cache = rowCache{max: s.RowCache}
	default:
		s.cache = rowCache{}
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
	// synchronous=NORMAL in WAL mode: a commit is in the WAL file (the OS page cache) before
	// Commit returns, so kill -9 of the process cannot lose it; only a power loss can drop the
	// last commits. FULL would fsync every commit; an edge box on a UPS can afford NORMAL.
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
	q.Add("_txlock", "immediate")
	if s.writer, err = sql.Open("sqlite", fileURI(s.Path)+"?"+q.Encode()); err != nil {
		return fmt.Errorf("open sqlite writer: %w", err)
	}
	// One writer connection: local writes and sync apply are serialized in Go.
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	// A new file gets pages of pageSize bytes; an existing one keeps its own (SQLite ignores
	// the pragma once the file holds data in WAL mode).
	if _, err := s.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size=%d", pageSize)); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
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
	if err := s.prepare(ctx); err != nil {
		return err
	}
	rq := url.Values{}
	rq.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.BusyTimeout.Milliseconds()))
	rq.Add("_pragma", "query_only(1)")
	if s.reader, err = sql.Open("sqlite", fileURI(s.Path)+"?"+rq.Encode()); err != nil {
		return fmt.Errorf("open sqlite readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.reader.SetMaxOpenConns(n)
	s.reader.SetMaxIdleConns(n)
	return s.loadMeta(ctx)
}

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("edge database %s has schema version %d, newer than this binary's %d", s.Path, v, schemaVersion)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema+loginsSchema); err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	if err := ensureRowsIndexes(ctx, tx, "rows"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return tx.Commit()
}

// loadMeta reads (or creates) the node id and restores the clock.
func (s *Store) loadMeta(ctx context.Context) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin meta: %w", err)
	}
	defer tx.Rollback()
	stored, err := getMeta(ctx, tx, metaNode)
	if err != nil {
		return err
	}
	switch {
	case stored == "" && s.Node == "":
		s.Node = "edge-" + strings.ToLower(domain.NewID(s.Now()))
		fallthrough
	case stored == "":
		if !hlc.ValidNode(s.Node) {
			return fmt.Errorf("edge node id %q: must be 1 to %d printable ascii characters without spaces", s.Node, hlc.MaxNodeLen)
		}
		if err := setMeta(ctx, tx, metaNode, s.Node); err != nil {
			return err
		}
	case s.Node != "" && s.Node != stored:
		return fmt.Errorf("edge database %s belongs to node %q, not %q", s.Path, stored, s.Node)
	default:
		s.Node = stored
	}
	s.Clock = hlc.NewClock(s.Node)
	// The edge trusts clocks coming from the hub: the hub clamps every change whose clock runs
	// ahead of its own, so what it sends is bounded. Refusing a hub reading here would make an
	// edge whose clock lags lose every last-writer-wins comparison against changes it has seen.
	s.Clock.MaxSkew = 0
	if s.Now != nil {
		now := s.Now
		s.Clock.Wall = func() time.Time { return now() }
	}
	last, err := getMeta(ctx, tx, metaHLC)
	if err != nil {
		return err
	}
	if last != "" {
		ts, err := hlc.Parse(last)
		if err != nil {
			return fmt.Errorf("stored clock: %w", err)
		}
		s.Clock.Observe(ts)
	}
	return tx.Commit()
}

// Close closes the database. Safe to call more than once.
func (s *Store) Close() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
		s.reader = nil
	}
	if s.writer != nil {
		s.wmu.Lock()
		for _, st := range s.prepared {
			errs = append(errs, st.Close())
		}
		s.prepared = nil
		s.wmu.Unlock()
		errs = append(errs, s.writer.Close())
		s.writer = nil
	}
	return errors.Join(errs...)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.reader.PingContext(ctx)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getMeta(ctx context.Context, q queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

func setMeta(ctx context.Context, q queryer, key, value string) error {
	if _, err := q.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value); err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// now returns the store's time in canonical form (UTC, microseconds).
func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// fileURI makes an SQLite "file:" URI for path. '%', '?' and '#' are escaped so that a
// directory name holding them (a fuzz corpus entry "seed#0", say) opens that file and not
// another one cut short at a URI fragment.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
