package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/postgres"
	"github.com/aiff/aiff/hub/storetest"
)

// TestSearchPaths drives every path of the Postgres text search (sample, density-sized probe,
// count, trigram index with common words left out, ticket number) by shrinking the search
// window on a small table, and checks each against the definition: every live ticket whose
// number, title, description or location holds the text, case-insensitively, in list order.
func TestSearchPaths(t *testing.T) {
	s := storetest.OpenPostgres(t, nil)
	ctx := context.Background()
	z, _ := fixture(t, s)
	var all []domain.Ticket
	for _, f := range [][3]string{
		{"Hydrant leaking", "water on the road", "Alt-Friedrichsfelde 11, 10367 Berlin"},
		{"No heating", "cold flat", "Alt-Friedrichsfelde 12, 10367 Berlin"},
		{"Hydrant damaged", "car hit it", "Torstraße 5, 10119 Berlin"},
		{"Street light out", "dark corner", "Alt-Friedrichsfelde 11, 10367 Berlin"},
		{"Gas smell", "see TKT-000002", "Torstraße 11, 10119 Berlin"},
		{"Meter swap", "berlin hydrant register", "Hauptstraße 1, 10827 Berlin"},
		{"Hydrant check", "yearly", "Alt-Friedrichsfelde 110, 10367 Berlin"},
		{"Broken pipe", "Alt-Friedrichsfelde 11, 10367 berlin", "Hof"},
		{"Valve check", "old hydrant near berlin", "Hof 2"}, // holds " hydrant" but not "berlin hydrant"
		{"Fence", "gate", "Berlin Mitte"},
	} {
		tk := newTicket(t, f[0], z.Name)
		tk.Description, tk.Location = f[1], f[2]
		tk, err := s.CreateTicket(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, tk)
	}
	match := func(q string) []string {
		q = strings.ToLower(strings.TrimSpace(q))
		var out []string
		for _, tk := range all {
			for _, field := range []string{tk.Number, tk.Title, tk.Description, tk.Location} {
				if strings.Contains(strings.ToLower(field), q) {
					out = append(out, tk.Title)
					break
				}
			}
		}
		return out
	}
	for _, q := range []string{
		"alt-friedrichsfelde 11, 10367 berlin", // rare; "berlin" and "10367" common
		"Friedrichsfelde 11,",
		"berlin hydrant",
		"hydrant",
		"berlin",
		"10119 berlin",
		"strasse berlin", // no match; every word but one common
		"TKT-000002",
		"zzqxv",
	} {
		want := match(q)
		for _, window := range []int{1, 2, 3, 5, 4000} {
			restore := postgres.SetSearchWindow(window)
			for _, sort := range []string{"created_at", "-created_at"} {
				var got []string
				cur := ""
				for range 20 {
					page, err := s.ListTickets(ctx, domain.TicketFilter{Query: q, Sort: sort, Limit: 2, Cursor: cur})
					if err != nil {
						t.Fatalf("search %q: %v", q, err)
					}
					for _, tk := range page.Items {
						got = append(got, tk.Title)
					}
					if cur = page.NextCursor; cur == "" {
						break
					}
				}
				w := slices.Clone(want)
				if sort == "-created_at" {
					slices.Reverse(w)
				}
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("window %d, sort %s: search %q (-want +got):\n%s", window, sort, q, diff)
				}
			}
			restore()
		}
	}
}
