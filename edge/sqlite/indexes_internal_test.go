package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/snapshot"
)

// TestRowsIndexesAcrossSwitches checks the staged table's indexes (made as it is staged,
// under whichever of two names is free): after each of three snapshot switches and after
// reopening the file, the rows table has every list index exactly once, no index is left on
// a table that is gone, and list queries use them; the writer's checkpoint interval is
// the default again after each switch.
func TestRowsIndexesAcrossSwitches(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "edge.db")
	open := func() *Store {
		s := NewStore(path)
		s.Node = "edge-ix"
		if err := s.Open(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(s *Store, when string) {
		t.Helper()
		rs, err := s.reader.QueryContext(ctx, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		perBase := map[string]int{}
		for rs.Next() {
			var name, tbl string
			if err := rs.Scan(&name, &tbl); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(name, "rows_") {
				continue
			}
			if tbl != "rows" {
				t.Errorf("%s: index %s is on %s", when, name, tbl)
			}
			perBase[strings.TrimSuffix(name, altIndexSuffix)]++
		}
		for _, ix := range rowsIndexes {
			if perBase[ix.name] != 1 {
				t.Errorf("%s: rows has %d indexes %s; want 1 (all: %v)", when, perBase[ix.name], ix.name, perBase)
			}
		}
		for _, q := range []struct{ sql, index string }{
			{"SELECT state FROM rows WHERE entity = 'ticket' ORDER BY due_date, id LIMIT 5", "rows_due"},
			{"SELECT state FROM rows WHERE entity = 'team' AND deleted = 0 ORDER BY name, id", "rows_name"},
			{"SELECT doc FROM rows WHERE entity = 'zone' AND deleted = 0 ORDER BY name", "rows_name"},
		} {
			var plan []string
			prs, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql)
			if err != nil {
				t.Fatal(err)
			}
			for prs.Next() {
				var id, parent, notused int
				var detail string
				if err := prs.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			prs.Close()
			if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, q.index) }) {
				t.Errorf("%s: %s does not use %s: %q", when, q.sql, q.index, plan)
			}
		}
	}
	s := open()
	check(s, "new file")
	clock := hlc.NewClock(domain.HubOrigin)
	for round := range 3 {
		var rows []snapshot.Row
		for i := range 5 {
			tk, _ := domain.NewTicket(domain.NewTicketInput{Title: fmt.Sprintf("Pump %d/%d", round, i), Zone: "North"}, time.Now())
			tk.ID = domain.NewID(time.Now())
			patch, err := domain.Diff(nil, tk)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, snapshot.Row{Entity: domain.EntityTicket, ID: tk.ID, Changes: []domain.Change{{
				ID: domain.NewID(time.Now()), Seq: int64(i + 1), Origin: domain.HubOrigin, Actor: "system", Entity: domain.EntityTicket,
				EntityID: tk.ID, Op: domain.OpUpsert, Zone: "North", Patch: patch, HLC: clock.Now().String(),
				At: time.Now().UTC().Truncate(time.Microsecond)}}})
		}
		slices.SortFunc(rows, func(a, b snapshot.Row) int { return a.Key().Compare(b.Key()) })
		for i, r := range rows {
			if err := s.StageSnapshot(ctx, i == 0, []snapshot.Row{r}, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SwitchSnapshot(ctx, []string{"North"}, 5); err != nil {
			t.Fatal(err)
		}
		check(s, fmt.Sprintf("switch %d", round+1))
		var ckpt int
		if err := s.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&ckpt); err != nil || ckpt != walCheckpointPages {
			t.Errorf("switch %d: the writer checkpoints every %d pages (%v); want the default %d back", round+1, ckpt, err, walCheckpointPages)
		}
		page, err := s.ListTickets(ctx, domain.TicketFilter{Limit: 10})
		if err != nil || len(page.Items) != 5 {
			t.Fatalf("switch %d: %d tickets, %v", round+1, len(page.Items), err)
		}
		s.Close()
		s = open()
		check(s, fmt.Sprintf("reopened after switch %d", round+1))
	}
	s.Close()
}
