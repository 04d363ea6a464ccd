package domain_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func decodePatch(t *testing.T, s string) domain.TicketPatch {
	t.Helper()
	var p domain.TicketPatch
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("decode patch %s: %v", s, err)
	}
	return p
}

// TestTicketPatchApply decodes each patch from JSON, so that absent, null and set come from
// the real decoder the HTTP API uses, and compares the whole resulting ticket.
func TestTicketPatchApply(t *testing.T) {
	at := hours(10)
	tests := []struct {
		name     string
		in       domain.Ticket
		patch    string
		want     func(*domain.Ticket) // applied to a copy of in with UpdatedAt = at
		wantCode domain.Code
		field    string
	}{
		// title: required
		{name: "title set", in: ticketIn(domain.StatusAssigned), patch: `{"title":"Lamp 12 dark"}`,
			want: func(w *domain.Ticket) { w.Title = "Lamp 12 dark" }},
		{name: "title trimmed", in: ticketIn(domain.StatusAssigned), patch: `{"title":"  Lamp 12 dark "}`,
			want: func(w *domain.Ticket) { w.Title = "Lamp 12 dark" }},
		{name: "title null", in: ticketIn(domain.StatusAssigned), patch: `{"title":null}`,
			wantCode: domain.CodeInvalid, field: "title"},
		{name: "title empty", in: ticketIn(domain.StatusAssigned), patch: `{"title":""}`,
			wantCode: domain.CodeInvalid, field: "title"},
		{name: "title blank", in: ticketIn(domain.StatusAssigned), patch: `{"title":"   "}`,
			wantCode: domain.CodeInvalid, field: "title"},
		{name: "title too long", in: ticketIn(domain.StatusAssigned), patch: `{"title":"` + strings.Repeat("t", 201) + `"}`,
			wantCode: domain.CodeInvalid, field: "title"},

		// description: optional, null clears
		{name: "description set", in: ticketIn(domain.StatusAssigned), patch: `{"description":"now two lamps"}`,
			want: func(w *domain.Ticket) { w.Description = "now two lamps" }},
		{name: "description null clears", in: ticketIn(domain.StatusAssigned), patch: `{"description":null}`,
			want: func(w *domain.Ticket) { w.Description = "" }},
		{name: "description too long", in: ticketIn(domain.StatusAssigned), patch: `{"description":"` + strings.Repeat("d", 5001) + `"}`,
			wantCode: domain.CodeInvalid, field: "description"},

		// category: required
		{name: "category set", in: ticketIn(domain.StatusAssigned), patch: `{"category":"outage"}`,
			want: func(w *domain.Ticket) { w.Category = "outage" }},
		{name: "category null", in: ticketIn(domain.StatusAssigned), patch: `{"category":null}`,
			wantCode: domain.CodeInvalid, field: "category"},
		{name: "category unknown", in: ticketIn(domain.StatusAssigned), patch: `{"category":"plumbing"}`,
			wantCode: domain.CodeInvalid, field: "category"},

		// priority: required; does not move the due date
		{name: "priority set keeps due date", in: ticketIn(domain.StatusAssigned), patch: `{"priority":"critical"}`,
			want: func(w *domain.Ticket) { w.Priority = domain.PriorityCritical }},
		{name: "priority null", in: ticketIn(domain.StatusAssigned), patch: `{"priority":null}`,
			wantCode: domain.CodeInvalid, field: "priority"},
		{name: "priority unknown", in: ticketIn(domain.StatusAssigned), patch: `{"priority":"urgent"}`,
			wantCode: domain.CodeInvalid, field: "priority"},

		// status: required, through the state machine
		{name: "status set", in: ticketIn(domain.StatusAssigned), patch: `{"status":"in_progress"}`,
			want: func(w *domain.Ticket) { w.Status, w.StartedAt = domain.StatusInProgress, ptr(at) }},
		{name: "status null", in: ticketIn(domain.StatusAssigned), patch: `{"status":null}`,
			wantCode: domain.CodeInvalid, field: "status"},
		{name: "status unknown", in: ticketIn(domain.StatusAssigned), patch: `{"status":"done"}`,
			wantCode: domain.CodeInvalid, field: "status"},
		{name: "status illegal", in: ticketIn(domain.StatusOpen), patch: `{"status":"resolved"}`,
			wantCode: domain.CodeConflict, field: "status"},
		{name: "status assigned without a team", in: ticketIn(domain.StatusOpen), patch: `{"status":"assigned"}`,
			wantCode: domain.CodeInvalid, field: "assigned_team"},
		{name: "status same is allowed", in: ticketIn(domain.StatusAssigned), patch: `{"status":"assigned"}`,
			want: func(w *domain.Ticket) {}},

		// zone: required
		{name: "zone set", in: ticketIn(domain.StatusAssigned), patch: `{"zone":"North"}`,
			want: func(w *domain.Ticket) { w.Zone = "North" }},
		{name: "zone trimmed", in: ticketIn(domain.StatusAssigned), patch: `{"zone":" North "}`,
			want: func(w *domain.Ticket) { w.Zone = "North" }},
		{name: "zone null", in: ticketIn(domain.StatusAssigned), patch: `{"zone":null}`,
			wantCode: domain.CodeInvalid, field: "zone"},
		{name: "zone empty", in: ticketIn(domain.StatusAssigned), patch: `{"zone":""}`,
			wantCode: domain.CodeInvalid, field: "zone"},

		// location: optional
		{name: "location set", in: ticketIn(domain.StatusAssigned), patch: `{"location":"14 Main St"}`,
			want: func(w *domain.Ticket) { w.Location = "14 Main St" }},
		{name: "location null clears", in: ticketIn(domain.StatusAssigned), patch: `{"location":null}`,
			want: func(w *domain.Ticket) { w.Location = "" }},

		// lat/lng: optional, together
		{name: "lat and lng set", in: ticketIn(domain.StatusAssigned), patch: `{"lat":48.85,"lng":2.35}`,
			want: func(w *domain.Ticket) { w.Lat, w.Lng = ptr(48.85), ptr(2.35) }},
		{name: "lat alone moves lat", in: ticketIn(domain.StatusAssigned), patch: `{"lat":0}`,
			want: func(w *domain.Ticket) { w.Lat = ptr(0.0) }},
		{name: "lat and lng null clear", in: ticketIn(domain.StatusAssigned), patch: `{"lat":null,"lng":null}`,
			want: func(w *domain.Ticket) { w.Lat, w.Lng = nil, nil }},
		{name: "lat null alone", in: ticketIn(domain.StatusAssigned), patch: `{"lat":null}`,
			wantCode: domain.CodeInvalid, field: "lat"},
		{name: "lng null alone", in: ticketIn(domain.StatusAssigned), patch: `{"lng":null}`,
			wantCode: domain.CodeInvalid, field: "lat"},
		{name: "lat out of range", in: ticketIn(domain.StatusAssigned), patch: `{"lat":91}`,
			wantCode: domain.CodeInvalid, field: "lat"},
		{name: "lng out of range", in: ticketIn(domain.StatusAssigned), patch: `{"lng":-181}`,
			wantCode: domain.CodeInvalid, field: "lng"},

		// skills: optional, normalized
		{name: "skills set normalized", in: ticketIn(domain.StatusAssigned), patch: `{"skills":[" HVAC","hvac","Electrical",""]}`,
			want: func(w *domain.Ticket) { w.Skills = []string{"electrical", "hvac"} }},
		{name: "skills null clears", in: ticketIn(domain.StatusAssigned), patch: `{"skills":null}`,
			want: func(w *domain.Ticket) { w.Skills = []string{} }},
		{name: "skills empty", in: ticketIn(domain.StatusAssigned), patch: `{"skills":[]}`,
			want: func(w *domain.Ticket) { w.Skills = []string{} }},
		{name: "skills invalid", in: ticketIn(domain.StatusAssigned), patch: `{"skills":["high voltage"]}`,
			wantCode: domain.CodeInvalid, field: "skills"},

		// due_date: required
		{name: "due_date set in UTC", in: ticketIn(domain.StatusAssigned), patch: `{"due_date":"2025-03-12T10:00:00+01:00"}`,
			want: func(w *domain.Ticket) { w.DueDate = time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC) }},
		{name: "due_date null", in: ticketIn(domain.StatusAssigned), patch: `{"due_date":null}`,
			wantCode: domain.CodeInvalid, field: "due_date"},

		// assigned_to: optional
		{name: "assigned_to set", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_to":"bob"}`,
			want: func(w *domain.Ticket) { w.AssignedTo = ptr("bob") }},
		{name: "assigned_to null clears", in: ticketIn(domain.StatusInProgress), patch: `{"assigned_to":null}`,
			want: func(w *domain.Ticket) { w.AssignedTo = nil }},
		{name: "assigned_to too long", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_to":"` + strings.Repeat("a", 101) + `"}`,
			wantCode: domain.CodeInvalid, field: "assigned_to"},

		// assigned_team: set assigns, null unassigns
		{name: "assign open ticket", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":"team-b"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedAt = domain.StatusAssigned, ptr("team-b"), ptr(at)
			}},
		{name: "assign open ticket with a person", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":"team-b","assigned_to":"bob"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedTo, w.AssignedAt = domain.StatusAssigned, ptr("team-b"), ptr("bob"), ptr(at)
			}},
		{name: "same team keeps assigned_at", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_team":"team-a"}`,
			want: func(w *domain.Ticket) {}},
		{name: "reassign drops the old team's person", in: ticketIn(domain.StatusInProgress), patch: `{"assigned_team":"team-b"}`,
			want: func(w *domain.Ticket) { w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), nil, ptr(at) }},
		{name: "reassign with a new person", in: ticketIn(domain.StatusOnHold), patch: `{"assigned_team":"team-b","assigned_to":"bob"}`,
			want: func(w *domain.Ticket) {
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = ptr("team-b"), ptr("bob"), ptr(at)
			}},
		{name: "assign resolved ticket refused", in: ticketIn(domain.StatusResolved), patch: `{"assigned_team":"team-b"}`,
			wantCode: domain.CodeConflict},
		{name: "assign empty team refused", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":""}`,
			wantCode: domain.CodeInvalid, field: "team_id"},
		{name: "unassign assigned moves to open", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_team":null}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedTo, w.AssignedAt = domain.StatusOpen, nil, nil, nil
			}},
		{name: "unassign in_progress refused", in: ticketIn(domain.StatusInProgress), patch: `{"assigned_team":null}`,
			wantCode: domain.CodeInvalid, field: "assigned_team"},
		{name: "unassign on_hold refused", in: ticketIn(domain.StatusOnHold), patch: `{"assigned_team":null}`,
			wantCode: domain.CodeInvalid, field: "assigned_team"},
		{name: "unassign open is a no-op", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":null}`,
			want: func(w *domain.Ticket) {}},
		{name: "unassign resolved keeps status", in: ticketIn(domain.StatusResolved), patch: `{"assigned_team":null}`,
			want: func(w *domain.Ticket) { w.AssignedTeam, w.AssignedTo, w.AssignedAt = nil, nil, nil }},
		{name: "unassign wins over a person in the same patch", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_team":null,"assigned_to":"bob"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedTo, w.AssignedAt = domain.StatusOpen, nil, nil, nil
			}},

		// customer_rating: optional, resolved or closed only
		{name: "rating set on resolved", in: ticketIn(domain.StatusResolved), patch: `{"customer_rating":5}`,
			want: func(w *domain.Ticket) { w.CustomerRating = ptr(5) }},
		{name: "rating null clears", in: ticketIn(domain.StatusResolved), patch: `{"customer_rating":null}`,
			want: func(w *domain.Ticket) { w.CustomerRating = nil }},
		{name: "rating out of range", in: ticketIn(domain.StatusResolved), patch: `{"customer_rating":0}`,
			wantCode: domain.CodeInvalid, field: "customer_rating"},
		{name: "rating on assigned", in: ticketIn(domain.StatusAssigned), patch: `{"customer_rating":4}`,
			wantCode: domain.CodeInvalid, field: "customer_rating"},

		// several fields in one patch: fields first, then status
		{name: "assign and start in one patch", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":"team-b","status":"in_progress"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedAt, w.StartedAt = domain.StatusInProgress, ptr("team-b"), ptr(at), ptr(at)
			}},
		{name: "assign and mark assigned in one patch", in: ticketIn(domain.StatusOpen), patch: `{"assigned_team":"team-b","status":"assigned"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedAt = domain.StatusAssigned, ptr("team-b"), ptr(at)
			}},
		{name: "resolve and rate in one patch", in: ticketIn(domain.StatusInProgress), patch: `{"status":"resolved","customer_rating":5}`,
			want: func(w *domain.Ticket) {
				w.Status, w.ResolvedAt, w.CustomerRating = domain.StatusResolved, ptr(at), ptr(5)
			}},
		{name: "reopen clears rating", in: ticketIn(domain.StatusResolved), patch: `{"status":"assigned"}`,
			want: func(w *domain.Ticket) { w.Status, w.ResolvedAt, w.CustomerRating = domain.StatusAssigned, nil, nil }},
		{name: "reopen and rate refused", in: ticketIn(domain.StatusResolved), patch: `{"status":"assigned","customer_rating":3}`,
			wantCode: domain.CodeInvalid, field: "customer_rating"},
		{name: "unassign and cancel in one patch", in: ticketIn(domain.StatusAssigned), patch: `{"assigned_team":null,"status":"cancelled"}`,
			want: func(w *domain.Ticket) {
				w.Status, w.AssignedTeam, w.AssignedTo, w.AssignedAt = domain.StatusCancelled, nil, nil, nil
			}},
		{name: "many fields at once", in: ticketIn(domain.StatusOpen),
			patch: `{"title":"T","description":"D","category":"inspection","priority":"low","zone":"North","location":"L","lat":1,"lng":2,"skills":["gas"],"due_date":"2025-04-01T00:00:00Z"}`,
			want: func(w *domain.Ticket) {
				w.Title, w.Description, w.Category, w.Priority, w.Zone, w.Location = "T", "D", "inspection", domain.PriorityLow, "North", "L"
				w.Lat, w.Lng, w.Skills, w.DueDate = ptr(1.0), ptr(2.0), []string{"gas"}, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
			}},

		// empty and final
		{name: "empty patch", in: ticketIn(domain.StatusOpen), patch: `{}`, wantCode: domain.CodeInvalid},
		{name: "closed ticket title refused", in: ticketIn(domain.StatusClosed), patch: `{"title":"x"}`,
			wantCode: domain.CodeConflict},
		{name: "cancelled ticket description refused", in: ticketIn(domain.StatusCancelled), patch: `{"description":null}`,
			wantCode: domain.CodeConflict},
		{name: "closed ticket rating refused", in: ticketIn(domain.StatusClosed), patch: `{"customer_rating":5}`,
			wantCode: domain.CodeConflict},
		{name: "closed ticket reopen refused", in: ticketIn(domain.StatusClosed), patch: `{"status":"assigned"}`,
			wantCode: domain.CodeConflict, field: "status"},
		{name: "cancelled ticket reopen refused", in: ticketIn(domain.StatusCancelled), patch: `{"status":"open"}`,
			wantCode: domain.CodeConflict, field: "status"},
		{name: "closed ticket same status is a no-op", in: ticketIn(domain.StatusClosed), patch: `{"status":"closed"}`,
			want: func(w *domain.Ticket) {}},
		{name: "same values are a no-op that keeps updated_at", in: ticketIn(domain.StatusOpen), patch: `{"title":"Streetlight out","priority":"high"}`,
			want: func(w *domain.Ticket) {}},
		{name: "closed ticket same status does not unlock fields", in: ticketIn(domain.StatusClosed), patch: `{"status":"closed","title":"x"}`,
			wantCode: domain.CodeConflict},
		{name: "cancelled ticket same status does not unlock assignment", in: ticketIn(domain.StatusCancelled), patch: `{"status":"cancelled","assigned_team":null}`,
			wantCode: domain.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodePatch(t, tt.patch)
			orig := tt.in
			got, err := p.Apply(tt.in, at.In(time.FixedZone("X", -7200)))
			checkErr(t, err, tt.wantCode, tt.field)
			if diff := cmp.Diff(ticketIn(orig.Status), tt.in); diff != "" {
				t.Errorf("input ticket mutated (-want +got):\n%s", diff)
			}
			if tt.wantCode != "" {
				return
			}
			want := orig
			tt.want(&want)
			// A patch that changes nothing keeps updated_at; any real change moves it to at.
			if cmp.Diff(orig, want) != "" {
				want.UpdatedAt = at
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Apply(%s) mismatch (-want +got):\n%s", tt.patch, diff)
			}
			if got.UpdatedAt.Location() != time.UTC || got.DueDate.Location() != time.UTC {
				t.Errorf("updated_at/due_date not UTC: %v, %v", got.UpdatedAt.Location(), got.DueDate.Location())
			}
		})
	}
}

func TestTicketPatchApplyTransitionError(t *testing.T) {
	p := decodePatch(t, `{"status":"open"}`)
	_, err := p.Apply(ticketIn(domain.StatusClosed), hours(10))
	var te *domain.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *TransitionError in the chain", err)
	}
	if diff := cmp.Diff(domain.TransitionError{From: domain.StatusClosed, To: domain.StatusOpen}, *te); diff != "" {
		t.Errorf("TransitionError mismatch (-want +got):\n%s", diff)
	}
}

// TestTicketPatchEmpty sets each JSON field of TicketPatch alone, found by reflection so that a
// field added later without updating Empty fails here.
func TestTicketPatchEmpty(t *testing.T) {
	if !(domain.TicketPatch{}).Empty() {
		t.Error("zero patch: Empty() = false, want true")
	}
	typ := reflect.TypeFor[domain.TicketPatch]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		for _, v := range []string{"null", `""`} {
			var p domain.TicketPatch
			// A type mismatch still marks the field present before failing; only Set matters.
			_ = json.Unmarshal([]byte(`{"`+name+`":`+v+`}`), &p)
			if p.Empty() {
				t.Errorf(`{%q:%s}: Empty() = true, want false`, name, v)
			}
		}
	}
}

func TestOptUnmarshal(t *testing.T) {
	type doc struct {
		S  domain.Opt[string]    `json:"s"`
		N  domain.Opt[int]       `json:"n"`
		L  domain.Opt[[]string]  `json:"l"`
		TS domain.Opt[time.Time] `json:"ts"`
	}
	tests := []struct {
		in      string
		want    doc
		wantErr bool
	}{
		{in: `{}`, want: doc{}},
		{in: `{"s":null}`, want: doc{S: domain.Opt[string]{Set: true, Null: true}}},
		{in: `{"s": null }`, want: doc{S: domain.Opt[string]{Set: true, Null: true}}},
		{in: `{"s":"x"}`, want: doc{S: domain.Some("x")}},
		{in: `{"s":""}`, want: doc{S: domain.Some("")}},
		{in: `{"s":"null"}`, want: doc{S: domain.Some("null")}},
		{in: `{"n":0}`, want: doc{N: domain.Some(0)}},
		{in: `{"n":null,"s":"a"}`, want: doc{S: domain.Some("a"), N: domain.Opt[int]{Set: true, Null: true}}},
		{in: `{"l":[]}`, want: doc{L: domain.Some([]string{})}},
		{in: `{"l":["a","b"]}`, want: doc{L: domain.Some([]string{"a", "b"})}},
		{in: `{"ts":"2025-03-10T09:00:00Z"}`, want: doc{TS: domain.Some(t0)}},
		{in: `{"s":5}`, wantErr: true},
		{in: `{"n":"5"}`, wantErr: true},
		{in: `{"ts":"yesterday"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got doc
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"value", domain.Some("x"), `"x"`},
		{"zero value", domain.Some(0), `0`},
		{"null", domain.Opt[string]{Set: true, Null: true}, `null`},
		{"absent", domain.Opt[string]{}, `null`},
		{"list", domain.Some([]string{"a"}), `["a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if got := string(b); got != tt.want {
				t.Errorf("Marshal = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestPatchJSONRoundTrip encodes decoded patches again: an absent field must stay absent (not
// turn into an explicit null, which would clear the field on the receiver), a null stays null
// and a value stays the value.
func TestPatchJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		into func() any
	}{
		{"ticket empty", `{}`, func() any { return new(domain.TicketPatch) }},
		{"ticket one value", `{"title":"x"}`, func() any { return new(domain.TicketPatch) }},
		{"ticket nulls", `{"assigned_team":null,"description":null}`, func() any { return new(domain.TicketPatch) }},
		{"ticket mixed", `{"lat":1.5,"lng":null,"skills":[],"status":"on_hold","due_date":"2025-03-10T09:00:00Z"}`, func() any { return new(domain.TicketPatch) }},
		{"team one value", `{"capacity":3}`, func() any { return new(domain.TeamInput) }},
		{"team mixed", `{"home_lat":null,"home_lng":null,"is_active":false,"skills":["gas"]}`, func() any { return new(domain.TeamInput) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.into()
			if err := json.Unmarshal([]byte(tt.in), first); err != nil {
				t.Fatalf("decode: %v", err)
			}
			b, err := json.Marshal(first)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var gotM, wantM map[string]any
			if err := json.Unmarshal(b, &gotM); err != nil {
				t.Fatalf("decode encoded: %v", err)
			}
			if err := json.Unmarshal([]byte(tt.in), &wantM); err != nil {
				t.Fatalf("decode input: %v", err)
			}
			if diff := cmp.Diff(wantM, gotM); diff != "" {
				t.Errorf("encoded JSON mismatch (-want +got):\n%s", diff)
			}
			second := tt.into()
			if err := json.Unmarshal(b, second); err != nil {
				t.Fatalf("decode again: %v", err)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
