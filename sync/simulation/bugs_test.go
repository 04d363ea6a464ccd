package simulation

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiff/aiff/domain"
	edgesqlite "github.com/aiff/aiff/edge/sqlite"
	hubsqlite "github.com/aiff/aiff/hub/sqlite"
)

// Bugs of the code under test that the simulation found, each as a minimal failing test.
// A test is skipped, naming the bug, only while the bug is reported and not yet fixed;
// -sim.strict runs them anyway.

// TestStorePathWithHash: hub/sqlite and edge/sqlite build their DSN as "file:"+path+"?…"
// without escaping, so a path holding '#' (t.TempDir() of a fuzz input "seed#0") or '?' opens
// a different file: everything after '#' is taken as a URI fragment. Two stores in two
// directories then share one database outside either directory. Found by FuzzSimulation,
// whose seed corpus runs failed setup with "zone "north" already exists".
func TestStorePathWithHash(t *testing.T) {
	if !*flagStrict {
		t.Skip("known bug: hub/sqlite and edge/sqlite do not escape '#' and '?' in the store path (reported); run with -sim.strict")
	}
	ctx := domain.WithPrincipal(context.Background(), dispatcher)
	base, err := os.MkdirTemp("", "aiff-sim-hash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, c := range []struct {
		name string
		open func(path string) (func() error, error)
	}{
		{"hub/sqlite", func(path string) (func() error, error) {
			s := hubsqlite.NewStore(path)
			if err := s.Open(ctx); err != nil {
				return nil, err
			}
			_, err := s.CreateZone(ctx, domain.Zone{Name: "north", Region: "sim"})
			return s.Close, err
		}},
		{"edge/sqlite", func(path string) (func() error, error) {
			s := edgesqlite.NewStore(path)
			s.Node = "edge-a"
			return s.Close, s.Open(ctx)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, c.name, "run#1")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "store.db")
			closeStore, err := c.open(path)
			if closeStore != nil {
				defer closeStore()
			}
			if err != nil {
				t.Fatalf("open and write %s: %v", path, err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("store opened on %s but the file is not there: %v", path, err)
			}
		})
	}
}
