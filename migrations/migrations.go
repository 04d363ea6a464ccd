// Package migrations embeds the hub's versioned SQL schema, one folder per dialect
// (postgres/, sqlite/), with files named NNNN_name.up.sql. The adapters apply them in order,
// each in its own transaction, under a lock, recording versions in schema_migrations.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a folder of migrations.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// List returns the dialect's migrations sorted by version. It fails on a badly named file or a
// repeated version, so a mistake shows at start-up rather than as a half-migrated database.
func List(d Dialect) ([]Migration, error) {
	names, err := fs.Glob(files, string(d)+"/*.up.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no migrations for dialect %q", d)
	}
	var out []Migration
	seen := map[int]bool{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", n)
		}
		if seen[v] {
			return nil, fmt.Errorf("migration %s: version %d repeated", n, v)
		}
		seen[v] = true
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(base, ".up.sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
