package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/hub/seed"
)

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f hubFlags
	f.register(fs, getenv)
	nEdges := fs.Int("edges", 2, "edge nodes to start beside the hub")
	password := fs.String("password", "demo", "password of every demo login (set when the data is first seeded)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if *nEdges < 0 || *nEdges > 16 {
		return fmt.Errorf("--edges must be between 0 and 16")
	}
	if err := domain.ValidatePassword(*password); err != nil {
		return fmt.Errorf("--password: %s", domain.ErrorMessage(err))
	}
	// The demo is the embedded system: it never uses DATABASE_URL, so a shell configured for a
	// production hub cannot seed demo data into it by accident.
	f.db = ""
	logger := newLogger(getenv, stderr)
	store, err := f.open(ctx, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	seeded, err := seedDemo(ctx, store, *password, stderr)
	if err != nil {
		return err
	}
	srv, err := newHubServer(&f, store, getenv, logger)
	if err != nil {
		return err
	}
	if err := srv.Open(); err != nil {
		return err
	}
	hubURL := browserURL(srv.URL())
	edges, err := startDemoEdges(ctx, store, hubURL, srv.Addr, f.data, *nEdges, logger)
	if err != nil {
		_ = shutdown(srv)
		return err
	}
	if err := printDemo(ctx, stdout, store, hubURL, *password, seeded, edges); err != nil {
		closeDemoEdges(edges)
		_ = shutdown(srv)
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	closeDemoEdges(edges)
	return shutdown(srv)
}

// seedDemo loads the demo city into an empty store. It reports whether it seeded, so the
// banner can say when the password flag no longer applies to existing data.
func seedDemo(ctx context.Context, store hubStore, password string, progress io.Writer) (bool, error) {
	zones, err := store.ListZones(ctx)
	if err != nil {
		return false, err
	}
	if len(zones) > 0 {
		return false, nil
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return false, err
	}
	fmt.Fprintln(progress, "seeding demo data (first start)…")
	ds := seed.Generate(seed.DemoConfig(time.Now(), hash))
	if err := seed.Load(ctx, store, ds, progress); err != nil {
		return false, fmt.Errorf("seed demo data: %w", err)
	}
	return true, nil
}

// browserURL turns a listen URL on the unspecified address into one a browser can open.
func browserURL(u string) string {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	if err != nil {
		return u
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func printDemo(ctx context.Context, w io.Writer, store hubStore, base, password string, seeded bool, edges []demoEdge) error {
	users, err := store.ListUsers(ctx)
	if err != nil {
		return err
	}
	teams, err := store.ListTeams(ctx, domain.TeamFilter{})
	if err != nil {
		return err
	}
	teamName := map[string]string{}
	for _, t := range teams {
		teamName[t.ID] = t.Name + " (" + t.Zone + ")"
	}
	slices.SortFunc(users, func(a, b domain.User) int {
		if c := slices.Index(domain.Roles, a.Role) - slices.Index(domain.Roles, b.Role); c != 0 {
			return c
		}
		return strings.Compare(a.Username, b.Username)
	})
	fmt.Fprintf(w, "\nAIFF demo is running.\n\n")
	fmt.Fprintf(w, "  dispatcher dashboard  %s/\n", base)
	fmt.Fprintf(w, "  field portal          %s/field\n", base)
	fmt.Fprintf(w, "  API docs              %s/docs\n", base)
	fmt.Fprintf(w, "  metrics               %s/metrics\n\n", base)
	pw := password
	if !seeded {
		pw = "(as when first seeded; default demo)"
	}
	fmt.Fprintf(w, "Logins (password %s):\n", pw)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	shown := 0
	for _, u := range users {
		if !u.IsActive {
			continue
		}
		if u.Role == domain.RoleField && shown >= 8 {
			continue
		}
		team := ""
		if u.TeamID != nil {
			team = teamName[*u.TeamID]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.Username, u.Role, team)
		if u.Role == domain.RoleField {
			shown++
		}
	}
	tw.Flush()
	if n := countRole(users, domain.RoleField); n > shown {
		fmt.Fprintf(w, "  … and %d more field users (GET /api/auth/teams lists the teams)\n", n-shown)
	}
	if len(edges) > 0 {
		fmt.Fprintf(w, "\nEdge nodes (each serves its zone offline; field users of the zone log in there too):\n")
		for _, e := range edges {
			fmt.Fprintf(tw, "  %s\t%s\t%s/field\n", e.name, e.zone, e.node.URL())
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nCtrl-C stops the demo; data stays in the data directory.")
	return nil
}

func countRole(users []domain.User, r domain.Role) int {
	n := 0
	for _, u := range users {
		if u.Role == r && u.IsActive {
			n++
		}
	}
	return n
}
