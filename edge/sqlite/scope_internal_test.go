package sqlite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// TestZoneOfMatchesColumns holds Reconcile's in-memory checks to what the rows table stores:
// zoneOf to the zone column saveRow writes (columnsOf), lacksCreate to
// json_extract(doc, '$.id') IS NULL AND deleted = 0, for rows of every entity with odd
// field values.
func TestZoneOfMatchesColumns(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	values := []string{`"North"`, `"Nörth \u0022x\u0022"`, `null`, `12`, `{"a":1}`, `""`, `"<&>"`}
	keys := []string{"zone", "name", "Zone", "NAME", "id", "title"}
	entities := []domain.Entity{domain.EntityTicket, domain.EntityTeam, domain.EntityZone, domain.EntityUser, domain.EntityNote}
	n := 0
	for _, e := range entities {
		for _, k := range keys {
			for _, v := range values {
				for _, del := range []bool{false, true} {
					for _, chZone := range []string{"", "South"} {
						n++
						id := domain.NewID(now)
						c := domain.Change{ID: domain.NewID(now), Origin: domain.HubOrigin, Actor: "system", Entity: e, EntityID: id,
							Op: domain.OpUpsert, Zone: chZone, At: now, HLC: "",
							Patch: map[string]json.RawMessage{k: json.RawMessage(v), "title": json.RawMessage(`"t"`)}}
						if n%3 == 0 {
							c.Patch["id"] = json.RawMessage(`"` + id + `"`)
						}
						row, _, err := merge.Apply(merge.Row{}, c)
						if err != nil {
							t.Fatal(err)
						}
						if del {
							d := domain.Change{ID: domain.NewID(now.Add(time.Second)), Origin: domain.HubOrigin, Actor: "system", Entity: e,
								EntityID: id, Op: domain.OpDelete, Zone: chZone, At: now.Add(time.Second)}
							if row, _, err = merge.Apply(row, d); err != nil {
								t.Fatal(err)
							}
						}
						doc := visibleDoc(row)
						if got, want := zoneOf(row), columnsOf(row, doc).zone; got != want {
							t.Errorf("%s %s=%s (change zone %q): zoneOf %q, columnsOf %q", e, k, v, chZone, got, want)
						}
						// json_extract is case-sensitive, unlike encoding/json: look the key up exactly.
						var m map[string]json.RawMessage
						_ = json.Unmarshal(doc, &m)
						want := row.Deleted == nil && (m["id"] == nil || string(m["id"]) == "null")
						if got := lacksCreate(row); got != want {
							t.Errorf("%s %s=%s deleted %v: lacksCreate %v, want %v (doc %s)", e, k, v, del, got, want, doc)
						}
					}
				}
			}
		}
	}
}
