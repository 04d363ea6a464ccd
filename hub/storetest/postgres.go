package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/hub/postgres"
)

// DefaultPostgresURL is the test server used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres"

// PostgresURL creates a fresh, empty schema on the test server (TEST_DATABASE_URL, default
// DefaultPostgresURL) and returns a connection URL whose search_path is that schema, so every
// table, function and index a store makes lands in it. The schema is dropped in t.Cleanup,
// after cleanups registered later (such as closing a store) have run.
//
// Without a reachable server the test is skipped, unless CI=true, where it fails: CI must
// never pass by skipping the Postgres half.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres at TEST_DATABASE_URL is unreachable (CI=true needs it): %v", err)
		}
		t.Skipf("postgres unreachable, skipping (set TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(ctx)

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "aiff_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	// pgx passes unknown parameters on as run-time parameters of each connection.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenPostgres returns an open, migrated Postgres store in a fresh schema of the test server,
// with clock now (nil: time.Now). The store is closed and the schema dropped in t.Cleanup.
func OpenPostgres(t testing.TB, now func() time.Time) *postgres.Store {
	t.Helper()
	s := postgres.NewStore(PostgresURL(t))
	if now != nil {
		s.Now = now
	}
	// A small pool per test: parallel tests each open a store, and the server's
	// max_connections is shared by everyone on the machine.
	s.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
