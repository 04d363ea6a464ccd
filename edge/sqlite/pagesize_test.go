package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
)

func pageSizeOf(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("PRAGMA page_size").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A new edge file gets 16 KB pages (rows of ~4 KB fit whole); a file made with SQLite's
// default 4 KB pages keeps them and still opens and serves.
func TestPageSize(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "edge.db")
	openStore(t, fresh, "edge-a")
	if got := pageSizeOf(t, fresh); got != 16384 {
		t.Fatalf("new file: page size %d, want 16384", got)
	}

	old := filepath.Join(t.TempDir(), "edge.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openStore(t, old, "edge-a")
	h := newHub()
	f := genesis(t, h)
	if err := s.ApplyRemote(ctx, f.changes, h.seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTicket(ctx, f.ticket.ID); err != nil {
		t.Fatal(err)
	}
	if got := pageSizeOf(t, old); got != 4096 {
		t.Fatalf("existing file: page size %d, want 4096 kept", got)
	}
}
