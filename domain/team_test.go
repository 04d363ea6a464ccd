package domain_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func validTeam() domain.Team {
	return domain.Team{
		ID:         "01JP0000000000000000000001",
		Name:       "Crew A",
		Zone:       "Downtown",
		Skills:     []string{"electrical"},
		Capacity:   5,
		ShiftStart: "08:00",
		ShiftEnd:   "17:00",
		HomeLat:    ptr(52.5),
		HomeLng:    ptr(13.4),
		Status:     domain.TeamAvailable,
		IsActive:   true,
		CreatedAt:  t0,
		UpdatedAt:  t0,
	}
}

func TestNewTeamDefaults(t *testing.T) {
	got, err := domain.NewTeam(domain.TeamInput{Name: domain.Some("  Crew A "), Zone: domain.Some(" Downtown")}, t0.In(time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatalf("NewTeam: %v", err)
	}
	want := domain.Team{
		Name:       "Crew A",
		Zone:       "Downtown",
		Skills:     []string{},
		Capacity:   5,
		ShiftStart: "08:00",
		ShiftEnd:   "17:00",
		Status:     domain.TeamAvailable,
		IsActive:   true,
		CreatedAt:  t0,
		UpdatedAt:  t0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewTeam mismatch (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("times not UTC: %v, %v", got.CreatedAt.Location(), got.UpdatedAt.Location())
	}
}

func TestNewTeamFromJSON(t *testing.T) {
	var in domain.TeamInput
	body := `{"name":"Night crew","zone":"North","description":"d","skills":["Gas"," gas","HVAC"],"capacity":2,
		"shift_start":"22:00","shift_end":"06:00","home_lat":-1.5,"home_lng":36.8,"status":"offline","is_active":false}`
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatalf("decode: %v", err)
	}
	got, err := domain.NewTeam(in, t0)
	if err != nil {
		t.Fatalf("NewTeam: %v", err)
	}
	want := domain.Team{
		Name: "Night crew", Zone: "North", Description: "d", Skills: []string{"gas", "hvac"}, Capacity: 2,
		ShiftStart: "22:00", ShiftEnd: "06:00", HomeLat: ptr(-1.5), HomeLng: ptr(36.8),
		Status: domain.TeamOffline, IsActive: false, CreatedAt: t0, UpdatedAt: t0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewTeam mismatch (-want +got):\n%s", diff)
	}
}

func TestNewTeamInvalid(t *testing.T) {
	tests := []struct {
		name  string
		in    domain.TeamInput
		field string
	}{
		{"no name", domain.TeamInput{Zone: domain.Some("z")}, "name"},
		{"blank name", domain.TeamInput{Name: domain.Some("  "), Zone: domain.Some("z")}, "name"},
		{"no zone", domain.TeamInput{Name: domain.Some("n")}, "zone"},
		{"zero capacity", domain.TeamInput{Name: domain.Some("n"), Zone: domain.Some("z"), Capacity: domain.Some(0)}, "capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.NewTeam(tt.in, t0)
			checkErr(t, err, domain.CodeInvalid, tt.field)
		})
	}
}

func TestTeamInputApply(t *testing.T) {
	at := hours(10)
	tests := []struct {
		name  string
		patch string
		want  func(*domain.Team)
		field string
	}{
		{name: "empty changes only updated_at", patch: `{}`, want: func(*domain.Team) {}},
		{name: "name trimmed", patch: `{"name":" Crew B "}`, want: func(w *domain.Team) { w.Name = "Crew B" }},
		{name: "name null", patch: `{"name":null}`, field: "name"},
		{name: "zone set", patch: `{"zone":"North"}`, want: func(w *domain.Team) { w.Zone = "North" }},
		{name: "zone null", patch: `{"zone":null}`, field: "zone"},
		{name: "description null clears", patch: `{"description":null}`, want: func(w *domain.Team) { w.Description = "" }},
		{name: "skills normalized", patch: `{"skills":["Gas","gas"," hvac "]}`, want: func(w *domain.Team) { w.Skills = []string{"gas", "hvac"} }},
		{name: "skills null clears", patch: `{"skills":null}`, want: func(w *domain.Team) { w.Skills = []string{} }},
		{name: "skills invalid", patch: `{"skills":["gas leak"]}`, field: "skills"},
		{name: "capacity set", patch: `{"capacity":100}`, want: func(w *domain.Team) { w.Capacity = 100 }},
		{name: "capacity too big", patch: `{"capacity":101}`, field: "capacity"},
		{name: "capacity null", patch: `{"capacity":null}`, field: "capacity"},
		{name: "shift set", patch: `{"shift_start":"00:00","shift_end":"23:59"}`, want: func(w *domain.Team) { w.ShiftStart, w.ShiftEnd = "00:00", "23:59" }},
		{name: "shift_start null", patch: `{"shift_start":null}`, field: "shift_start"},
		{name: "shift_end bad", patch: `{"shift_end":"24:00"}`, field: "shift_end"},
		{name: "home cleared", patch: `{"home_lat":null,"home_lng":null}`, want: func(w *domain.Team) { w.HomeLat, w.HomeLng = nil, nil }},
		{name: "home_lat null alone", patch: `{"home_lat":null}`, field: "home_lat"},
		{name: "home moved", patch: `{"home_lat":0,"home_lng":0}`, want: func(w *domain.Team) { w.HomeLat, w.HomeLng = ptr(0.0), ptr(0.0) }},
		{name: "status busy", patch: `{"status":"busy"}`, want: func(w *domain.Team) { w.Status = domain.TeamBusy }},
		{name: "status unknown", patch: `{"status":"asleep"}`, field: "status"},
		{name: "status null", patch: `{"status":null}`, field: "status"},
		{name: "deactivate", patch: `{"is_active":false}`, want: func(w *domain.Team) { w.IsActive = false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in domain.TeamInput
			if err := json.Unmarshal([]byte(tt.patch), &in); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := in.Apply(validTeam(), at)
			if tt.field != "" {
				checkErr(t, err, domain.CodeInvalid, tt.field)
				return
			}
			checkErr(t, err, "", "")
			want := validTeam()
			want.UpdatedAt = at
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Apply(%s) mismatch (-want +got):\n%s", tt.patch, diff)
			}
		})
	}
}

func TestTeamValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*domain.Team)
		field string
	}{
		{"fixture", func(*domain.Team) {}, ""},
		{"empty name", func(t *domain.Team) { t.Name = "" }, "name"},
		{"name 100 runes", func(t *domain.Team) { t.Name = strings.Repeat("ñ", 100) }, ""},
		{"name 101 runes", func(t *domain.Team) { t.Name = strings.Repeat("n", 101) }, "name"},
		{"empty zone", func(t *domain.Team) { t.Zone = "" }, "zone"},
		{"description 2000", func(t *domain.Team) { t.Description = strings.Repeat("é", 2000) }, ""},
		{"description 2001", func(t *domain.Team) { t.Description = strings.Repeat("d", 2001) }, "description"},
		{"capacity 1", func(t *domain.Team) { t.Capacity = 1 }, ""},
		{"capacity 100", func(t *domain.Team) { t.Capacity = 100 }, ""},
		{"capacity 0", func(t *domain.Team) { t.Capacity = 0 }, "capacity"},
		{"capacity -1", func(t *domain.Team) { t.Capacity = -1 }, "capacity"},
		{"capacity 101", func(t *domain.Team) { t.Capacity = 101 }, "capacity"},
		{"shift_start 00:00", func(t *domain.Team) { t.ShiftStart = "00:00" }, ""},
		{"shift_start 23:59", func(t *domain.Team) { t.ShiftStart = "23:59" }, ""},
		{"shift_start 24:00", func(t *domain.Team) { t.ShiftStart = "24:00" }, "shift_start"},
		{"shift_start 8:00", func(t *domain.Team) { t.ShiftStart = "8:00" }, "shift_start"},
		{"shift_start 08:60", func(t *domain.Team) { t.ShiftStart = "08:60" }, "shift_start"},
		{"shift_start with seconds", func(t *domain.Team) { t.ShiftStart = "08:00:00" }, "shift_start"},
		{"shift_start empty", func(t *domain.Team) { t.ShiftStart = "" }, "shift_start"},
		{"shift_start trailing newline", func(t *domain.Team) { t.ShiftStart = "08:00\n" }, "shift_start"},
		{"shift_end 19:30", func(t *domain.Team) { t.ShiftEnd = "19:30" }, ""},
		{"shift_end 7pm", func(t *domain.Team) { t.ShiftEnd = "7pm" }, "shift_end"},
		{"overnight shift", func(t *domain.Team) { t.ShiftStart, t.ShiftEnd = "22:00", "06:00" }, ""},
		{"no home", func(t *domain.Team) { t.HomeLat, t.HomeLng = nil, nil }, ""},
		{"home_lat alone", func(t *domain.Team) { t.HomeLng = nil }, "home_lat"},
		{"home_lng alone", func(t *domain.Team) { t.HomeLat = nil }, "home_lat"},
		{"home_lat 90", func(t *domain.Team) { t.HomeLat = ptr(90.0) }, ""},
		{"home_lat 90.5", func(t *domain.Team) { t.HomeLat = ptr(90.5) }, "home_lat"},
		{"home_lat NaN", func(t *domain.Team) { t.HomeLat = ptr(math.NaN()) }, "home_lat"},
		{"home_lng -180", func(t *domain.Team) { t.HomeLng = ptr(-180.0) }, ""},
		{"home_lng -180.5", func(t *domain.Team) { t.HomeLng = ptr(-180.5) }, "home_lng"},
		{"home_lng NaN", func(t *domain.Team) { t.HomeLng = ptr(math.NaN()) }, "home_lng"},
		{"status busy", func(t *domain.Team) { t.Status = domain.TeamBusy }, ""},
		{"status offline", func(t *domain.Team) { t.Status = domain.TeamOffline }, ""},
		{"status empty", func(t *domain.Team) { t.Status = "" }, "status"},
		{"status unknown", func(t *domain.Team) { t.Status = "Available" }, "status"},
		{"skills nil", func(t *domain.Team) { t.Skills = nil }, ""},
		{"skill uppercase", func(t *domain.Team) { t.Skills = []string{"Gas"} }, "skills"},
		{"21 skills", func(t *domain.Team) {
			t.Skills = nil
			for i := range 21 {
				t.Skills = append(t.Skills, "s"+strings.Repeat("x", i))
			}
		}, "skills"},
		{"inactive", func(t *domain.Team) { t.IsActive = false }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := validTeam()
			tt.mod(&tm)
			err := tm.Validate()
			if tt.field == "" {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, domain.CodeInvalid, tt.field)
		})
	}
}

func TestTeamStatusValid(t *testing.T) {
	for s, want := range map[domain.TeamStatus]bool{"available": true, "busy": true, "offline": true, "": false, "BUSY": false} {
		if got := s.Valid(); got != want {
			t.Errorf("TeamStatus(%q).Valid() = %v, want %v", s, got, want)
		}
	}
}

func TestTeamHasSkills(t *testing.T) {
	tm := domain.Team{Skills: []string{"electrical", "gas"}}
	tests := []struct {
		need []string
		want bool
	}{
		{nil, true},
		{[]string{}, true},
		{[]string{"gas"}, true},
		{[]string{"gas", "electrical"}, true},
		{[]string{"gas", "hvac"}, false},
		{[]string{"hvac"}, false},
		{[]string{"Gas"}, false},
	}
	for _, tt := range tests {
		if got := tm.HasSkills(tt.need); got != tt.want {
			t.Errorf("HasSkills(%q) = %v, want %v", tt.need, got, tt.want)
		}
	}
	if (domain.Team{}).HasSkills([]string{"gas"}) {
		t.Error("team without skills HasSkills([gas]) = true, want false")
	}
}
