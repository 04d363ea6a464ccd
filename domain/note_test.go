package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

func TestNoteValidate(t *testing.T) {
	valid := domain.Note{ID: "01JP0000000000000000000009", TicketID: "01JP0000000000000000000000", Zone: "Downtown",
		Author: "tech1", Body: "replaced fuse, customer not home", CreatedAt: t0, UpdatedAt: t0}
	for _, tc := range []struct {
		name  string
		edit  func(*domain.Note)
		field string // "" = valid
	}{
		{"valid", func(*domain.Note) {}, ""},
		{"one character", func(n *domain.Note) { n.Body = "x" }, ""},
		{"4000 characters", func(n *domain.Note) { n.Body = strings.Repeat("é", 4000) }, ""},
		{"4000 characters and spaces", func(n *domain.Note) { n.Body = "  " + strings.Repeat("a", 4000) + "\n" }, ""},
		{"4001 characters", func(n *domain.Note) { n.Body = strings.Repeat("a", 4001) }, "body"},
		{"empty body", func(n *domain.Note) { n.Body = "" }, "body"},
		{"blank body", func(n *domain.Note) { n.Body = " \t\n " }, "body"},
		{"invalid utf-8", func(n *domain.Note) { n.Body = "fuse \xff" }, "body"},
		{"no ticket", func(n *domain.Note) { n.TicketID = "" }, "ticket_id"},
		{"ticket not a ulid", func(n *domain.Note) { n.TicketID = "TKT-000001" }, "ticket_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := valid
			tc.edit(&n)
			err := n.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != tc.field {
				t.Fatalf("Validate: %v, want invalid field %s", err, tc.field)
			}
		})
	}
}

func TestNewNote(t *testing.T) {
	tk := ticketIn(domain.StatusInProgress)
	tk.Zone = "Downtown"
	got, err := domain.NewNote(tk, "tech1", domain.NoteInput{Body: "  replaced fuse  "}, t0)
	if err != nil {
		t.Fatalf("NewNote: %v", err)
	}
	if !domain.ValidID(got.ID) {
		t.Fatalf("id %q is not a ulid", got.ID)
	}
	want := domain.Note{ID: got.ID, TicketID: tk.ID, Zone: "Downtown", Author: "tech1", Body: "replaced fuse", CreatedAt: t0, UpdatedAt: t0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("NewNote (-want +got):\n%s", diff)
	}
	if _, err := domain.NewNote(tk, "tech1", domain.NoteInput{Body: "   "}, t0); domain.ErrorField(err) != "body" {
		t.Fatalf("NewNote with a blank body: %v, want invalid body", err)
	}
}

func TestNotePlace(t *testing.T) {
	tk := ticketIn(domain.StatusOpen)
	tk.Zone = "Harbour"
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	// Empty fields are filled; the zone is always the ticket's and the note is live.
	gone := at
	got, err := domain.Note{TicketID: tk.ID, Body: "gate locked", Zone: "Elsewhere", DeletedAt: &gone}.Place(tk, "disp", at)
	if err != nil {
		t.Fatal(err)
	}
	stored := at.UTC().Truncate(time.Microsecond)
	want := domain.Note{ID: got.ID, TicketID: tk.ID, Zone: "Harbour", Author: "disp", Body: "gate locked", CreatedAt: stored, UpdatedAt: stored}
	if diff := cmp.Diff(want, got); diff != "" || !domain.ValidID(got.ID) {
		t.Fatalf("Place (-want +got):\n%s", diff)
	}
	// Given ones are kept (in the stored form).
	given := domain.Note{ID: "01JP0000000000000000000009", TicketID: tk.ID, Body: "b", Author: "tech1", CreatedAt: at.Add(-time.Hour)}
	got, err = given.Place(tk, "disp", at)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != given.ID || got.Author != "tech1" || !got.CreatedAt.Equal(stored.Add(-time.Hour)) || !got.UpdatedAt.Equal(got.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("Place changed given fields: %+v", got)
	}
	if _, err := (domain.Note{TicketID: tk.ID, Body: " "}).Place(tk, "disp", at); domain.ErrorField(err) != "body" {
		t.Errorf("Place of a blank note: %v, want invalid body", err)
	}
}
