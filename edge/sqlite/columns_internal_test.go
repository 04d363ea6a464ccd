package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// TestColumnsOfMatchesDoc holds columnsOf, which reads a row's fields, to columnsOfDoc, which
// decodes its visible doc, over random rows of every entity with values of every shape the
// columns meet: plain and escaped strings, nulls, wrong types, times with offsets, unknown
// priorities, missing fields, and field names only case apart. (A malformed time is the one
// difference, by design: see columnsOf.)
func TestColumnsOfMatchesDoc(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	entities := []domain.Entity{domain.EntityTicket, domain.EntityTeam, domain.EntityZone, domain.EntityUser, domain.EntityNote}
	fields := []string{"zone", "name", "username", "status", "priority", "assigned_team", "team_id", "ticket_id",
		"ticket_number", "due_date", "created_at", "updated_at", "title"}
	values := []string{`"North"`, `"Süd \"Ost\""`, `"a\\b"`, `null`, `7`, `true`, `""`, `"high"`, `"urgent"`, `"in_progress"`,
		`"2026-03-01T08:00:00Z"`, `"2026-03-01T09:00:00.123456+01:00"`, `"not a time"`, `["x"]`, `{"a":1}`, `"TKT-000042"`}
	times := []string{`null`, `"2026-03-01T08:00:00Z"`, `"2026-03-01T09:00:00.123456+01:00"`}
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 3))
		e := entities[r.IntN(len(entities))]
		patch := map[string]json.RawMessage{}
		for range 1 + r.IntN(8) {
			f := fields[r.IntN(len(fields))]
			if r.IntN(40) == 0 {
				f = "Zone" // encoding/json matches it to zone
			}
			v := values[r.IntN(len(values))]
			if f == "due_date" || f == "created_at" || f == "updated_at" {
				// A malformed time made the doc decode give up on every column after it (keys
				// in order); columnsOf leaves just that column empty. Rows hold valid times.
				v = times[r.IntN(len(times))]
			}
			patch[f] = json.RawMessage(v)
		}
		c := domain.Change{ID: domain.NewID(t0), Origin: "edge-a", Actor: "tech", Entity: e, EntityID: domain.NewID(t0),
			Op: domain.OpUpsert, Zone: []string{"", "East"}[r.IntN(2)], Patch: patch,
			HLC: hlc.Timestamp{Wall: t0.UnixMilli(), Node: "edge-a"}.String(), At: t0}
		row, _, err := merge.Apply(merge.Row{}, c)
		if err != nil {
			t.Fatal(err)
		}
		doc := visibleDoc(row)
		if got, want := columnsOf(row, doc), columnsOfDoc(row, doc); got != want {
			t.Fatalf("seed %d: %s %s\ncolumnsOf    %+v\ncolumnsOfDoc %+v", seed, e, fmt.Sprint(patch), got, want)
		}
	}
}
