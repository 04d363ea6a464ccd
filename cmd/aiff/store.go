package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/hub/sqlite"
)

// hubStore is what the commands need of a store: the domain store plus bulk loading.
type hubStore interface {
	domain.Store
	seed.Sink
}

// dbFlags are the flags every database-using command shares.
type dbFlags struct {
	db   string
	data string
}

func (f *dbFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.db, "db", getenv("DATABASE_URL"), "postgres:// URL or SQLite file path (default: SQLite under --data)")
	fs.StringVar(&f.data, "data", envOr(getenv, "AIFF_DATA_DIR", "./aiff-data"), "data directory (SQLite file, keys)")
}

// open returns the configured store, migrated. A postgres:// URL selects Postgres; anything
// else is an SQLite file path, by default hub.db in the data dir.
func (f *dbFlags) open(ctx context.Context, logger *slog.Logger) (hubStore, error) {
	if isPostgres(f.db) {
		s := postgres.NewStore(f.db)
		s.Logger = logger
		if err := s.Open(ctx); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return s, nil
	}
	path := f.db
	if path == "" {
		if err := os.MkdirAll(f.data, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(f.data, "hub.db")
	}
	s := sqlite.NewStore(path)
	s.Logger = logger
	if err := s.Open(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(getenv func(string) string, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if getenv("AIFF_DEBUG") != "" {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if getenv("AIFF_LOG_FORMAT") == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseFlags parses args into fs, rejecting stray positional arguments so that a typo such as
// "aiff hub -addr :1 extra" fails loudly instead of being ignored.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
