package domain_test

import (
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

// jsonFields lists the JSON names of typ's fields that are always encoded (no "-", no
// omitempty), which is what Diff(nil, v) must return for a v with empty optional fields.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "-" || strings.Contains(opts, "omitempty") {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func rawMap(m map[string]string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out
}

func TestDiffCreate(t *testing.T) {
	tests := []struct {
		name string
		v    any
		typ  reflect.Type
	}{
		{"ticket", ticketIn(domain.StatusResolved), reflect.TypeFor[domain.Ticket]()},
		{"team", validTeam(), reflect.TypeFor[domain.Team]()},
		{"user", validUser(), reflect.TypeFor[domain.User]()},
		{"zone", uZone, reflect.TypeFor[domain.Zone]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.Diff(nil, tt.v)
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if diff := cmp.Diff(jsonFields(tt.typ), slices.Sorted(maps.Keys(got))); diff != "" {
				t.Errorf("Diff(nil, %s) fields mismatch (-want +got):\n%s", tt.name, diff)
			}
			full, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]json.RawMessage
			if err := json.Unmarshal(full, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Diff(nil, %s) values mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestDiffUpdate(t *testing.T) {
	base := ticketIn(domain.StatusAssigned)
	tests := []struct {
		name string
		mod  func(*domain.Ticket)
		want map[string]string
	}{
		{"equal", func(*domain.Ticket) {}, map[string]string{}},
		{"title", func(t *domain.Ticket) { t.Title = "New" }, map[string]string{"title": `"New"`}},
		{"pointer cleared", func(t *domain.Ticket) { t.AssignedTo = nil }, map[string]string{"assigned_to": `null`}},
		{"pointer set", func(t *domain.Ticket) { t.CustomerRating = ptr(5) }, map[string]string{"customer_rating": `5`}},
		{"same pointer value at another address", func(t *domain.Ticket) { t.Lat = ptr(*t.Lat) }, map[string]string{}},
		{"slice", func(t *domain.Ticket) { t.Skills = []string{"electrical", "gas"} }, map[string]string{"skills": `["electrical","gas"]`}},
		{"nil vs empty slice", func(t *domain.Ticket) { t.Skills = nil }, map[string]string{"skills": `null`}},
		{"time", func(t *domain.Ticket) { t.UpdatedAt = hours(5) }, map[string]string{"updated_at": `"2025-03-10T14:00:00Z"`}},
		{"omitempty field set", func(t *domain.Ticket) { t.DeletedAt = ptr(hours(5)) }, map[string]string{"deleted_at": `"2025-03-10T14:00:00Z"`}},
		{"status move", func(t *domain.Ticket) {
			*t, _ = t.Transition(domain.StatusInProgress, hours(5))
		}, map[string]string{"status": `"in_progress"`, "started_at": `"2025-03-10T14:00:00Z"`, "updated_at": `"2025-03-10T14:00:00Z"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base
			next.Skills = slices.Clone(base.Skills)
			tt.mod(&next)
			got, err := domain.Diff(base, next)
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if diff := cmp.Diff(rawMap(tt.want), got); diff != "" {
				t.Errorf("Diff mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffPointersAndValues(t *testing.T) {
	a, b := validTeam(), validTeam()
	b.Capacity = 7
	got, err := domain.Diff(&a, &b)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	if diff := cmp.Diff(rawMap(map[string]string{"capacity": "7"}), got); diff != "" {
		t.Errorf("Diff(&a, &b) mismatch (-want +got):\n%s", diff)
	}
}

func TestDiffUnencodable(t *testing.T) {
	tk := ticketIn(domain.StatusOpen)
	tk.Lat = ptr(math.NaN())
	if _, err := domain.Diff(nil, tk); err == nil {
		t.Error("Diff(nil, ticket with NaN lat) err = nil, want an encoding error")
	}
	if _, err := domain.Diff(tk, ticketIn(domain.StatusOpen)); err == nil {
		t.Error("Diff(ticket with NaN lat, ticket) err = nil, want an encoding error")
	}
	if _, err := domain.Diff(nil, []string{"not", "an", "object"}); err == nil {
		t.Error("Diff(nil, list) err = nil, want an error: only objects have fields")
	}
}

func TestChangeJSON(t *testing.T) {
	ch := domain.Change{
		ID:       "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		Origin:   domain.HubOrigin,
		Actor:    "alice",
		Entity:   domain.EntityTicket,
		EntityID: "01JP0000000000000000000000",
		Op:       domain.OpUpsert,
		At:       t0,
	}
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","origin":"hub","actor":"alice","entity":"ticket","entity_id":"01JP0000000000000000000000","op":"upsert","at":"2025-03-10T09:00:00Z"}`
	if got := string(b); got != want {
		t.Errorf("Change JSON = %s\nwant %s", got, want)
	}
	ch.Seq, ch.Zone, ch.Patch = 7, "Downtown", rawMap(map[string]string{"title": `"x"`})
	b, err = json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	var back domain.Change
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ch, back); diff != "" {
		t.Errorf("Change round trip mismatch (-want +got):\n%s", diff)
	}
}
