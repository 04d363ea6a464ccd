package seed_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
)

var testNow = time.Date(2026, 3, 18, 14, 30, 0, 0, time.UTC)

func testConfig(tickets int) seed.Config {
	return seed.Config{Seed: 7, Zones: 8, Teams: 24, Tickets: tickets, Days: 90, Now: testNow, PasswordHash: "hash"}
}

// hashDataset hashes every entity of ds in order, ranging the ticket stream once.
func hashDataset(t *testing.T, ds *seed.Dataset) string {
	t.Helper()
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range []any{ds.Config, ds.Zones, ds.Teams, ds.Users} {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	for tk := range ds.Tickets {
		if err := enc.Encode(tk); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := testConfig(3000)
	a := seed.Generate(cfg)
	first := hashDataset(t, a)
	if again := hashDataset(t, a); again != first {
		t.Errorf("ranging the same dataset twice: hash %s then %s", first, again)
	}
	if other := hashDataset(t, seed.Generate(cfg)); other != first {
		t.Errorf("same config, new Generate: hash %s, want %s", other, first)
	}
	cfg.Seed++
	if other := hashDataset(t, seed.Generate(cfg)); other == first {
		t.Errorf("seed %d gave the same dataset as seed %d", cfg.Seed, cfg.Seed-1)
	}
	// More tickets must not reshuffle the city or its staff.
	more := seed.Generate(testConfig(5000))
	for i := range a.Teams {
		if a.Teams[i].ID != more.Teams[i].ID || a.Teams[i].Name != more.Teams[i].Name {
			t.Fatalf("team %d differs when only the ticket count changes", i)
		}
	}
}

func TestGenerateCityAndStaff(t *testing.T) {
	ds := seed.Generate(testConfig(0))
	if len(ds.Zones) != 8 || len(ds.Teams) != 24 || len(ds.Users) != 3+24 {
		t.Fatalf("got %d zones, %d teams, %d users; want 8, 24, 27", len(ds.Zones), len(ds.Teams), len(ds.Users))
	}
	names := map[string]bool{}
	for _, z := range ds.Zones {
		if err := z.Validate(); err != nil {
			t.Errorf("zone %s: %v", z.Name, err)
		}
		if !domain.ValidID(z.ID) {
			t.Errorf("zone %s: id %q is not a ULID", z.Name, z.ID)
		}
		if !z.Contains(z.Center) {
			t.Errorf("zone %s: centre %v outside its boundary", z.Name, z.Center)
		}
		if z.Center.Lat < 52.4 || z.Center.Lat > 52.6 || z.Center.Lng < 13.2 || z.Center.Lng > 13.6 {
			t.Errorf("zone %s: centre %v is not in Berlin", z.Name, z.Center)
		}
		names[z.Name] = true
	}
	// The eight inner districts around Mitte.
	for _, n := range []string{"Mitte", "Kreuzberg", "Tiergarten", "Schöneberg", "Wedding", "Prenzlauer Berg", "Tempelhof", "Neukölln"} {
		if !names[n] {
			t.Errorf("zone %s missing from the demo city (have %v)", n, names)
		}
	}

	// Districts must not overlap: every point of the area is in at most one zone.
	full := seed.Generate(seed.Config{Zones: seed.MaxZones, Teams: seed.MaxZones, Days: 1, Now: testNow, PasswordHash: "x"})
	rng := rand.New(rand.NewPCG(1, 2))
	inside := 0
	for range 20000 {
		p := domain.Point{Lat: 52.42 + rng.Float64()*0.19, Lng: 13.22 + rng.Float64()*0.38}
		n := 0
		for _, z := range full.Zones {
			if z.Contains(p) {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("point %v lies in %d zones", p, n)
		}
		inside += n
	}
	if inside < 10000 {
		t.Errorf("only %d of 20000 points fell in a zone; the districts should cover most of the box", inside)
	}

	teamByID := map[string]domain.Team{}
	zoneByName := map[string]domain.Zone{}
	for _, z := range ds.Zones {
		zoneByName[z.Name] = z
	}
	perZone := map[string]int{}
	for _, tm := range ds.Teams {
		if err := tm.Validate(); err != nil {
			t.Errorf("team %s: %v", tm.Name, err)
		}
		z, ok := zoneByName[tm.Zone]
		if !ok {
			t.Fatalf("team %s in unknown zone %q", tm.Name, tm.Zone)
		}
		if !z.Contains(domain.Point{Lat: *tm.HomeLat, Lng: *tm.HomeLng}) {
			t.Errorf("team %s: home base outside %s", tm.Name, tm.Zone)
		}
		if len(tm.Skills) < 3 {
			t.Errorf("team %s has skills %v", tm.Name, tm.Skills)
		}
		teamByID[tm.ID] = tm
		perZone[tm.Zone]++
	}
	for z, n := range perZone {
		if n != 3 {
			t.Errorf("zone %s has %d teams, want 3", z, n)
		}
	}

	seen := map[string]bool{}
	roles := map[domain.Role]int{}
	for _, u := range ds.Users {
		if err := u.Validate(); err != nil {
			t.Errorf("user %s: %v", u.Username, err)
		}
		if seen[u.Username] || seen[u.Email] {
			t.Errorf("user %s: username or email repeated", u.Username)
		}
		seen[u.Username], seen[u.Email] = true, true
		roles[u.Role]++
		if u.PasswordHash != "hash" {
			t.Errorf("user %s: password hash %q, want the configured one", u.Username, u.PasswordHash)
		}
		if u.Role == domain.RoleField {
			tm := teamByID[*u.TeamID]
			if !strings.HasPrefix(u.Username, "field-") || !strings.Contains(tm.Zone, "") {
				t.Errorf("field user %s", u.Username)
			}
		}
	}
	if want := map[domain.Role]int{domain.RoleAdmin: 1, domain.RoleDispatcher: 1, domain.RoleViewer: 1, domain.RoleField: 24}; !maps(roles, want) {
		t.Errorf("roles %v, want %v", roles, want)
	}
	for _, name := range []string{"admin", "dispatcher", "viewer", "field-mitte-1", "field-prenzlauer-berg-3", "field-neukoelln-2", "field-schoeneberg-1"} {
		if !seen[name] {
			t.Errorf("user %s missing", name)
		}
	}
}

func maps[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTickets checks every generated ticket against the domain rules and the lifecycle, and the
// whole stream against the shape it should have.
func TestTickets(t *testing.T) {
	const n = 20000
	cfg := testConfig(n)
	ds := seed.Generate(cfg)
	start := cfg.Now.Add(-90 * 24 * time.Hour)
	zones := map[string]domain.Zone{}
	for _, z := range ds.Zones {
		zones[z.Name] = z
	}
	teams := map[string]domain.Team{}
	for _, tm := range ds.Teams {
		teams[tm.ID] = tm
	}
	fieldOf := map[string]string{}
	for _, u := range ds.Users {
		if u.TeamID != nil {
			fieldOf[*u.TeamID] = u.Username
		}
	}

	var (
		count, resolved, missed, rated, ratingSum, skillMatch, assigned int
		old, oldDone, recent, recentOpen                                int
		status                                                          = map[domain.Status]int{}
		prio                                                            = map[domain.Priority]int{}
		weekday, weekend, day, night                                    int
		prev                                                            time.Time
		ids                                                             = map[string]bool{}
	)
	for tk := range ds.Tickets {
		count++
		if err := tk.Validate(); err != nil {
			t.Fatalf("%s: %v", tk.Number, err)
		}
		if want := domain.TicketNumber(int64(count)); tk.Number != want {
			t.Fatalf("ticket %d numbered %s, want %s", count, tk.Number, want)
		}
		if !domain.ValidID(tk.ID) || ids[tk.ID] {
			t.Fatalf("%s: bad or repeated id %q", tk.Number, tk.ID)
		}
		ids[tk.ID] = true
		if tk.CreatedAt.Before(prev) || tk.CreatedAt.Before(start) || !tk.CreatedAt.Before(cfg.Now) {
			t.Fatalf("%s: created %v out of order or outside [%v, %v)", tk.Number, tk.CreatedAt, start, cfg.Now)
		}
		prev = tk.CreatedAt
		z, ok := zones[tk.Zone]
		if !ok || !z.Contains(domain.Point{Lat: *tk.Lat, Lng: *tk.Lng}) {
			t.Fatalf("%s: point %v,%v not in zone %q", tk.Number, *tk.Lat, *tk.Lng, tk.Zone)
		}
		if !tk.DueDate.Equal(tk.CreatedAt.Add(tk.Priority.SLA())) {
			t.Fatalf("%s: due %v, want created + SLA", tk.Number, tk.DueDate)
		}
		checkLifecycle(t, tk, cfg.Now)
		if tk.AssignedTeam != nil {
			tm, ok := teams[*tk.AssignedTeam]
			if !ok || tm.Zone != tk.Zone {
				t.Fatalf("%s: assigned to team %v outside zone %s", tk.Number, *tk.AssignedTeam, tk.Zone)
			}
			if tk.AssignedTo == nil || *tk.AssignedTo != fieldOf[tm.ID] {
				t.Fatalf("%s: assigned_to %v, want the team's field user %s", tk.Number, tk.AssignedTo, fieldOf[tm.ID])
			}
			assigned++
			if tm.HasSkills(tk.Skills) {
				skillMatch++
			}
		}
		status[tk.Status]++
		prio[tk.Priority]++
		if tk.ResolvedAt != nil {
			resolved++
			if tk.ResolvedAt.After(tk.DueDate) {
				missed++
			}
		}
		if tk.CustomerRating != nil {
			rated++
			ratingSum += *tk.CustomerRating
		}
		age := cfg.Now.Sub(tk.CreatedAt)
		if age > 14*24*time.Hour {
			old++
			if tk.Status.Done() {
				oldDone++
			}
		}
		if age < 3*time.Hour {
			recent++
			if !tk.Status.Done() {
				recentOpen++
			}
		}
		local := tk.CreatedAt.Add(time.Hour)
		if wd := local.Weekday(); wd == time.Saturday || wd == time.Sunday {
			weekend++
		} else {
			weekday++
		}
		if h := local.Hour(); h >= 9 && h < 17 {
			day++
		} else if h < 5 {
			night++
		}
	}
	if count != n {
		t.Fatalf("stream yielded %d tickets, want %d", count, n)
	}
	t.Logf("status %v", status)
	t.Logf("priority %v", prio)
	slaMiss := float64(missed) / float64(resolved)
	avgRating := float64(ratingSum) / float64(rated)
	t.Logf("resolved %d, SLA missed %.1f%%, rated %d (mean %.2f), skill match %.1f%%", resolved, 100*slaMiss, rated, avgRating, 100*float64(skillMatch)/float64(assigned))
	t.Logf("old done %d/%d, recent open %d/%d, weekday/weekend per day %.0f/%.0f, day/night per hour %.0f/%.0f",
		oldDone, old, recentOpen, recent, float64(weekday)/5, float64(weekend)/2, float64(day)/8, float64(night)/5)

	checks := []struct {
		name string
		ok   bool
	}{
		{"older tickets are almost all done", float64(oldDone) > 0.97*float64(old)},
		{"tickets of the last 3 hours are mostly not done", float64(recentOpen) > 0.7*float64(recent)},
		{"every status but open appears", status[domain.StatusAssigned] > 0 && status[domain.StatusInProgress] > 0 && status[domain.StatusResolved] > 0 && status[domain.StatusClosed] > 0 && status[domain.StatusCancelled] > 0 && status[domain.StatusOnHold] > 0},
		{"some tickets are open", status[domain.StatusOpen] > 0},
		{"closed is the most common status", status[domain.StatusClosed] > n/2},
		{"SLA misses between 4% and 25%", slaMiss > 0.04 && slaMiss < 0.25},
		{"ratings skew high", avgRating > 3.8 && avgRating < 4.6},
		{"about 60% of resolved tickets rated", rated > resolved/2 && rated < resolved*3/4},
		{"medium is the most common priority", prio[domain.PriorityMedium] > prio[domain.PriorityLow] && prio[domain.PriorityLow] > prio[domain.PriorityCritical]},
		{"critical is rare", prio[domain.PriorityCritical] < n/6 && prio[domain.PriorityCritical] > n/50},
		{"weekdays busier than weekends", float64(weekday)/5 > 1.4*float64(weekend)/2},
		{"office hours busier than the night", float64(day)/8 > 5*float64(night)/5},
		{"most assignments match skills", skillMatch > assigned*7/10},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("shape: %s", c.name)
		}
	}
}

// checkLifecycle checks the lifecycle timestamps against the status.
func checkLifecycle(t *testing.T, tk domain.Ticket, now time.Time) {
	t.Helper()
	fail := func(msg string) { t.Fatalf("%s (%s): %s", tk.Number, tk.Status, msg) }
	order := []*time.Time{&tk.CreatedAt, tk.AssignedAt, tk.StartedAt, tk.ResolvedAt, tk.ClosedAt}
	last := tk.CreatedAt
	for _, p := range order {
		if p == nil {
			continue
		}
		if p.Before(last) {
			fail("lifecycle times out of order")
		}
		last = *p
	}
	if last.After(tk.UpdatedAt) || tk.UpdatedAt.After(now) {
		fail(fmt.Sprintf("updated_at %v not between the last event %v and now", tk.UpdatedAt, last))
	}
	has := func(p *time.Time) bool { return p != nil }
	want := map[domain.Status][4]bool{ // assigned, started, resolved, closed
		domain.StatusOpen:       {false, false, false, false},
		domain.StatusAssigned:   {true, false, false, false},
		domain.StatusInProgress: {true, true, false, false},
		domain.StatusOnHold:     {true, true, false, false},
		domain.StatusResolved:   {true, true, true, false},
		domain.StatusClosed:     {true, true, true, true},
	}[tk.Status]
	got := [4]bool{has(tk.AssignedAt), has(tk.StartedAt), has(tk.ResolvedAt), has(tk.ClosedAt)}
	if tk.Status == domain.StatusCancelled {
		if got[1] || got[2] || got[3] {
			fail("cancelled ticket has work times")
		}
		want[0] = got[0]
	}
	if got != want {
		fail(fmt.Sprintf("timestamps set %v, want %v", got, want))
	}
	if (tk.AssignedTeam != nil) != got[0] {
		fail("assigned_team and assigned_at disagree")
	}
}

func TestTicketsStopEarly(t *testing.T) {
	ds := seed.Generate(testConfig(1000))
	n := 0
	for range ds.Tickets {
		n++
		if n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("n = %d", n)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig(10)
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if err := seed.DemoConfig(testNow, "h").Validate(); err != nil {
		t.Fatalf("demo config: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*seed.Config)
	}{
		{"zones", func(c *seed.Config) { c.Zones = 0 }},
		{"zones", func(c *seed.Config) { c.Zones = seed.MaxZones + 1 }},
		{"teams", func(c *seed.Config) { c.Teams = c.Zones - 1 }},
		{"tickets", func(c *seed.Config) { c.Tickets = -1 }},
		{"days", func(c *seed.Config) { c.Days = 0 }},
		{"password", func(c *seed.Config) { c.PasswordHash = "" }},
	} {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != tc.field {
			t.Errorf("%+v: got %v, want invalid %s", c, err, tc.field)
		}
	}
}

func TestTicketSeq(t *testing.T) {
	for _, n := range []int64{1, 123, 999999, 1234567} {
		got, err := seed.TicketSeq(domain.TicketNumber(n))
		if err != nil || got != n {
			t.Errorf("TicketSeq(%s) = %d, %v", domain.TicketNumber(n), got, err)
		}
	}
	for _, s := range []string{"", "TKT-", "TKT-0", "TKT-x1", "ABC-000001"} {
		if _, err := seed.TicketSeq(s); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("TicketSeq(%q): err %v, want invalid", s, err)
		}
	}
}

// countingSink is a Sink that ranges the tickets and reports progress, standing in for a
// store so that Load's output can be checked without a database.
type countingSink struct {
	n   int
	err error
}

func (s *countingSink) BulkLoad(ctx context.Context, ds *seed.Dataset, progress func(done, total int)) error {
	for range ds.Tickets {
		s.n++
		if s.n%100 == 0 {
			progress(s.n, ds.Config.Tickets)
		}
	}
	progress(s.n, ds.Config.Tickets)
	return s.err
}

func TestLoadProgressLines(t *testing.T) {
	ds := seed.Generate(testConfig(5000))
	var buf bytes.Buffer
	sink := &countingSink{}
	if err := seed.Load(context.Background(), sink, ds, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// header, 10 progress lines, the finishing note, summary
	if len(lines) != 13 || !strings.Contains(lines[10], "100%") || !strings.Contains(lines[11], "building indexes") ||
		!strings.HasPrefix(lines[12], "seeded 5,000 tickets") {
		t.Errorf("output:\n%s", buf.String())
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "rows/s") && strings.Contains(l, "ETA") }) {
		t.Errorf("no rate or ETA in output:\n%s", buf.String())
	}

	boom := errors.New("boom")
	err := seed.Load(context.Background(), &countingSink{err: boom}, ds, nil)
	if !errors.Is(err, boom) {
		t.Errorf("Load error = %v, want wrapping %v", err, boom)
	}
}
