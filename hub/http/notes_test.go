package http_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

// TestNotes: who may read and write a ticket's notes, what a note records, and problem+json
// answers for bad input and unknown or invisible tickets.
func TestNotes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		path := func(tk domain.Ticket) string { return "/api/tickets/" + tk.ID + "/notes" }
		var n domain.Note
		e.mustJSON(e.do("POST", path(e.own), e.tokens["field"], map[string]string{"body": "  replaced fuse, customer not home "}), 201, &n)
		if n.Author != "field" || n.Body != "replaced fuse, customer not home" || n.TicketID != e.own.ID || n.Zone != e.own.Zone ||
			!domain.ValidID(n.ID) || !n.CreatedAt.Equal(t0) {
			t.Fatalf("created note %+v", n)
		}
		e.clock.Advance(60e9)
		e.mustJSON(e.do("POST", path(e.own), e.tokens["dispatcher"], map[string]string{"body": "parts ordered"}), 201, nil)
		e.mustJSON(e.do("POST", path(e.other), e.tokens["admin"], map[string]string{"body": "south note"}), 201, nil)

		for _, role := range []string{"admin", "dispatcher", "field", "viewer"} {
			var got struct{ Items []domain.Note }
			e.mustJSON(e.do("GET", path(e.own), e.tokens[role], nil), 200, &got)
			var lines []string
			for _, n := range got.Items {
				lines = append(lines, n.Author+": "+n.Body)
			}
			if diff := cmp.Diff([]string{"field: replaced fuse, customer not home", "dispatcher: parts ordered"}, lines); diff != "" {
				t.Errorf("notes as %s (-want +got):\n%s", role, diff)
			}
		}
		var empty struct{ Items []domain.Note }
		e.mustJSON(e.do("GET", path(e.unassd), e.tokens["viewer"], nil), 200, &empty)
		if empty.Items == nil || len(empty.Items) != 0 {
			t.Errorf("notes of a ticket without notes: %+v, want an empty list", empty.Items)
		}

		before := e.digest()
		// Viewers read only; field users see and write only their team's tickets.
		e.problem(e.do("POST", path(e.own), e.tokens["viewer"], map[string]string{"body": "x"}), 403, "")
		e.problem(e.do("POST", path(e.other), e.tokens["field"], map[string]string{"body": "x"}), 404, "")
		e.problem(e.do("POST", path(e.unassd), e.tokens["field"], map[string]string{"body": "x"}), 404, "")
		e.problem(e.do("GET", path(e.other), e.tokens["field"], nil), 404, "")
		// Bad input.
		d := e.tokens["dispatcher"]
		e.problem(e.do("POST", path(e.own), d, map[string]string{"body": ""}), 400, "body")
		e.problem(e.do("POST", path(e.own), d, map[string]string{"body": " \n\t "}), 400, "body")
		e.problem(e.do("POST", path(e.own), d, map[string]any{}), 400, "body")
		e.problem(e.do("POST", path(e.own), d, map[string]string{"body": strings.Repeat("a", domain.NoteMaxBody+1)}), 400, "body")
		e.problem(e.do("POST", path(e.own), d, map[string]any{"body": 7}), 400, "")
		e.problem(e.do("POST", path(e.own), d, map[string]any{"body": "x", "author": "someone else"}), 400, "")
		e.problem(e.do("POST", path(e.own), d, "not json"), 400, "")
		// Unknown tickets.
		missing := domain.NewID(t0)
		e.problem(e.do("GET", "/api/tickets/"+missing+"/notes", d, nil), 404, "")
		e.problem(e.do("POST", "/api/tickets/"+missing+"/notes", d, map[string]string{"body": "x"}), 404, "")
		e.problem(e.do("POST", "/api/tickets/not-an-id/notes", d, map[string]string{"body": "x"}), 404, "")
		e.unchanged(before)

		// A note of exactly the limit is fine.
		e.mustJSON(e.do("POST", path(e.own), d, map[string]string{"body": strings.Repeat("é", domain.NoteMaxBody)}), 201, nil)
	})
}
