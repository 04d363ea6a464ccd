package storetest

import (
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	gocmp "github.com/google/go-cmp/cmp"
)

// h is T0 plus n hours.
func h(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }

// analyticsNow is the reference time of the analytics fixture.
var analyticsNow = h(72)

// analyticsFixture builds a small dataset whose analytics are worked out by hand in the
// comments of the tests below. Teams: A (north, available), B (north, busy), C (south,
// active but offline), D (south, deleted). Tickets (created hour, due hour → what happens):
//
//	t1 north high      0 → 24   A@1 start@2 resolved@10 rating 5   (SLA met, 10 h)
//	t2 north medium    0 → 5    A@1 start@3 resolved@12 rating 3   (missed, 12 h)
//	t3 north low      24 → 100  B@25 start@26                      (in progress)
//	t4 north critical 24 → 28   unassigned                         (open, overdue at 72)
//	t5 south medium   24 → 200  C@30                               (assigned)
//	t6 south high     48 → 50   cancelled@49
//	t7 north low       0 → 10   deleted (ignored everywhere)
//	t8 south medium   24 → 30   C@25 start@26 resolved@48 rating 4 closed@50 (missed, 24 h)
func analyticsFixture(e *env) map[string]domain.Team {
	e.zone("north")
	e.zone("south")
	e.zone("east")
	teams := map[string]domain.Team{"A": e.team("A", "north"), "B": e.team("B", "north"), "C": e.team("C", "south"), "D": e.team("D", "south")}
	mk := func(zone string, p domain.Priority, created, due int) domain.Ticket {
		e.clock.Set(h(created))
		tk, err := e.s.CreateTicket(e.ctx, domain.Ticket{Title: "t", Category: "repair", Priority: p, Zone: zone, DueDate: h(due)})
		if err != nil {
			e.t.Fatalf("create: %v", err)
		}
		return tk
	}
	assign := func(tk domain.Ticket, team string, at int) {
		e.clock.Set(h(at))
		must[[]domain.Ticket](e.t)(e.s.AssignTickets(e.ctx, []string{tk.ID}, teams[team].ID, "manual"))
	}
	move := func(tk domain.Ticket, to domain.Status, at int) {
		e.clock.Set(h(at))
		e.transition(tk.ID, to)
	}
	resolve := func(tk domain.Ticket, at, rating int) {
		e.clock.Set(h(at))
		e.update(tk.ID, func(t domain.Ticket, at time.Time) (domain.Ticket, error) {
			return domain.TicketPatch{Status: domain.Some(domain.StatusResolved), CustomerRating: domain.Some(rating)}.Apply(t, at)
		})
	}
	t1 := mk("north", domain.PriorityHigh, 0, 24)
	t2 := mk("north", domain.PriorityMedium, 0, 5)
	t7 := mk("north", domain.PriorityLow, 0, 10)
	t3 := mk("north", domain.PriorityLow, 24, 100)
	mk("north", domain.PriorityCritical, 24, 28) // t4
	t5 := mk("south", domain.PriorityMedium, 24, 200)
	t8 := mk("south", domain.PriorityMedium, 24, 30)
	t6 := mk("south", domain.PriorityHigh, 48, 50)

	assign(t1, "A", 1)
	assign(t2, "A", 1)
	move(t1, domain.StatusInProgress, 2)
	move(t2, domain.StatusInProgress, 3)
	resolve(t1, 10, 5)
	resolve(t2, 12, 3)
	assign(t3, "B", 25)
	move(t3, domain.StatusInProgress, 26)
	assign(t8, "C", 25)
	move(t8, domain.StatusInProgress, 26)
	assign(t5, "C", 30)
	resolve(t8, 48, 4)
	move(t6, domain.StatusCancelled, 49)
	move(t8, domain.StatusClosed, 50)
	// t7 was assigned to A and resolved before being deleted: it must not count for A either.
	assign(t7, "A", 1)
	move(t7, domain.StatusInProgress, 2)
	resolve(t7, 3, 1)
	e.clock.Set(h(51))
	if err := e.s.DeleteTicket(e.ctx, t7.ID); err != nil {
		e.t.Fatal(err)
	}
	for _, id := range []string{"B", "C", "D"} {
		teams[id] = must[domain.Team](e.t)(e.s.UpdateTeam(e.ctx, teams[id].ID, func(tm domain.Team) (domain.Team, error) {
			switch id {
			case "B":
				tm.Status = domain.TeamBusy
			case "C":
				tm.Status = domain.TeamOffline
			}
			return tm, nil
		}))
	}
	if err := e.s.DeleteTeam(e.ctx, teams["D"].ID); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Set(h(1000)) // analytics must use f.Now, not the clock, when it is given
	return teams
}

func testAnalyticsOverview(t *testing.T, open Factory) {
	e := newEnv(t, open)
	analyticsFixture(e)
	all := domain.TicketOverview{
		Total: 7, Open: 3, Unassigned: 1, Overdue: 1,
		ByStatus: map[domain.Status]int{domain.StatusOpen: 1, domain.StatusAssigned: 1, domain.StatusInProgress: 1, domain.StatusOnHold: 0,
			domain.StatusResolved: 2, domain.StatusClosed: 1, domain.StatusCancelled: 1},
		ByPriority:         map[domain.Priority]int{domain.PriorityLow: 1, domain.PriorityMedium: 3, domain.PriorityHigh: 2, domain.PriorityCritical: 1},
		AvgResolutionHours: (10.0 + 12 + 24) / 3, SLAMetRate: 1.0 / 3, AvgRating: 4,
		TeamsTotal: 3, TeamsAvailable: 1,
	}
	north := domain.TicketOverview{
		Total: 4, Open: 2, Unassigned: 1, Overdue: 1,
		ByStatus: map[domain.Status]int{domain.StatusOpen: 1, domain.StatusAssigned: 0, domain.StatusInProgress: 1, domain.StatusOnHold: 0,
			domain.StatusResolved: 2, domain.StatusClosed: 0, domain.StatusCancelled: 0},
		ByPriority:         map[domain.Priority]int{domain.PriorityLow: 1, domain.PriorityMedium: 1, domain.PriorityHigh: 1, domain.PriorityCritical: 1},
		AvgResolutionHours: 11, SLAMetRate: 0.5, AvgRating: 4, TeamsTotal: 2, TeamsAvailable: 1,
	}
	south := domain.TicketOverview{
		Total: 3, Open: 1, Unassigned: 0, Overdue: 0,
		ByStatus: map[domain.Status]int{domain.StatusOpen: 0, domain.StatusAssigned: 1, domain.StatusInProgress: 0, domain.StatusOnHold: 0,
			domain.StatusResolved: 0, domain.StatusClosed: 1, domain.StatusCancelled: 1},
		ByPriority:         map[domain.Priority]int{domain.PriorityLow: 0, domain.PriorityMedium: 2, domain.PriorityHigh: 1, domain.PriorityCritical: 0},
		AvgResolutionHours: 24, SLAMetRate: 0, AvgRating: 4, TeamsTotal: 1, TeamsAvailable: 0,
	}
	// Created on day 2 (hours 24..48): t3, t4, t5, t8.
	day2 := domain.TicketOverview{
		Total: 4, Open: 3, Unassigned: 1, Overdue: 1,
		ByStatus: map[domain.Status]int{domain.StatusOpen: 1, domain.StatusAssigned: 1, domain.StatusInProgress: 1, domain.StatusOnHold: 0,
			domain.StatusResolved: 0, domain.StatusClosed: 1, domain.StatusCancelled: 0},
		ByPriority:         map[domain.Priority]int{domain.PriorityLow: 1, domain.PriorityMedium: 2, domain.PriorityHigh: 0, domain.PriorityCritical: 1},
		AvgResolutionHours: 24, SLAMetRate: 0, AvgRating: 4, TeamsTotal: 3, TeamsAvailable: 1,
	}
	// At hour 27 nothing is overdue yet except t2 — which is resolved — so none; t4 is due at 28.
	early := all
	early.Overdue = 0
	for _, tc := range []struct {
		name string
		f    domain.AnalyticsFilter
		want domain.TicketOverview
	}{
		{"all", domain.AnalyticsFilter{Now: analyticsNow}, all},
		{"zone", domain.AnalyticsFilter{Now: analyticsNow, Zones: []string{"north"}}, north},
		{"scope", domain.AnalyticsFilter{Now: analyticsNow, ScopeZones: []string{"south"}}, south},
		{"zone outside scope", domain.AnalyticsFilter{Now: analyticsNow, Zones: []string{"north"}, ScopeZones: []string{"south"}}, emptyOverview()},
		{"window", domain.AnalyticsFilter{Now: analyticsNow, From: ptr(h(24)), To: ptr(h(48))}, day2},
		{"earlier now", domain.AnalyticsFilter{Now: h(27)}, early},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := must[domain.TicketOverview](t)(e.s.TicketOverview(e.ctx, tc.f))
			if diff := gocmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("TicketOverview (-want +got):\n%s", diff)
			}
		})
	}
}

func emptyOverview() domain.TicketOverview {
	o := domain.TicketOverview{ByStatus: map[domain.Status]int{}, ByPriority: map[domain.Priority]int{}}
	for _, s := range domain.Statuses {
		o.ByStatus[s] = 0
	}
	for _, p := range domain.Priorities {
		o.ByPriority[p] = 0
	}
	return o
}

func testAnalyticsZones(t *testing.T, open Factory) {
	e := newEnv(t, open)
	analyticsFixture(e)
	east := domain.ZoneStats{Zone: "east"}
	north := domain.ZoneStats{Zone: "north", TotalTeams: 2, ActiveTeams: 2, OpenTickets: 2, ClosedTickets: 2, OverdueTickets: 1,
		AvgResolutionHours: 11, SLAMetRate: 0.5, Productivity: 1, Efficiency: 50}
	south := domain.ZoneStats{Zone: "south", TotalTeams: 1, ActiveTeams: 1, OpenTickets: 1, ClosedTickets: 1, OverdueTickets: 0,
		AvgResolutionHours: 24, SLAMetRate: 0, Productivity: 1, Efficiency: 0}
	for _, tc := range []struct {
		name string
		f    domain.AnalyticsFilter
		want []domain.ZoneStats
	}{
		{"all", domain.AnalyticsFilter{Now: analyticsNow}, []domain.ZoneStats{east, north, south}},
		{"zones", domain.AnalyticsFilter{Now: analyticsNow, Zones: []string{"south", "east"}}, []domain.ZoneStats{east, south}},
		{"scope", domain.AnalyticsFilter{Now: analyticsNow, ScopeZones: []string{"north"}}, []domain.ZoneStats{north}},
		// Tickets created on day 1 only (t1, t2 in north): team counts are not windowed.
		{"window", domain.AnalyticsFilter{Now: analyticsNow, To: ptr(h(24))}, []domain.ZoneStats{east,
			{Zone: "north", TotalTeams: 2, ActiveTeams: 2, ClosedTickets: 2, AvgResolutionHours: 11, SLAMetRate: 0.5, Productivity: 1, Efficiency: 50},
			{Zone: "south", TotalTeams: 1, ActiveTeams: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := must[[]domain.ZoneStats](t)(e.s.ZoneStats(e.ctx, tc.f))
			if diff := gocmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("ZoneStats (-want +got):\n%s", diff)
			}
		})
	}
}

func testAnalyticsTeams(t *testing.T, open Factory) {
	e := newEnv(t, open)
	teams := analyticsFixture(e)
	a := domain.TeamPerformance{TeamID: teams["A"].ID, Name: "A", Zone: "north", TicketsCompleted: 2, ActiveTickets: 0,
		CustomerRating: 4, ResponseTime: 90, AvgResolutionHours: 11, CompletionRate: 100, SLAMetRate: 0.5,
		Efficiency: 100 * (0.4*0.5 + 0.3*4.0/5 + 0.3*1)}
	b := domain.TeamPerformance{TeamID: teams["B"].ID, Name: "B", Zone: "north", TicketsCompleted: 0, ActiveTickets: 1,
		ResponseTime: 60}
	c := domain.TeamPerformance{TeamID: teams["C"].ID, Name: "C", Zone: "south", TicketsCompleted: 1, ActiveTickets: 1,
		CustomerRating: 4, ResponseTime: 60, AvgResolutionHours: 24, CompletionRate: 50, SLAMetRate: 0,
		Efficiency: 100 * (0.3*4.0/5 + 0.3*0.5)}
	for _, tc := range []struct {
		name string
		f    domain.AnalyticsFilter
		want []domain.TeamPerformance
	}{
		{"all", domain.AnalyticsFilter{Now: analyticsNow}, []domain.TeamPerformance{a, c, b}},
		{"zone", domain.AnalyticsFilter{Zones: []string{"north"}}, []domain.TeamPerformance{a, b}},
		{"scope", domain.AnalyticsFilter{ScopeZones: []string{"south"}}, []domain.TeamPerformance{c}},
		// From hour 24: A has no tickets; B keeps t3; C keeps t5 and t8.
		{"window", domain.AnalyticsFilter{From: ptr(h(24))}, []domain.TeamPerformance{c,
			{TeamID: teams["A"].ID, Name: "A", Zone: "north"}, b}}, // A and B tie at 0: by name
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := must[[]domain.TeamPerformance](t)(e.s.TeamPerformance(e.ctx, tc.f))
			if diff := gocmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("TeamPerformance (-want +got):\n%s", diff)
			}
		})
	}
}

func testAnalyticsTrends(t *testing.T, open Factory) {
	e := newEnv(t, open)
	analyticsFixture(e)
	for _, tc := range []struct {
		name string
		f    domain.AnalyticsFilter
		want []domain.TrendPoint
	}{
		{"three days", domain.AnalyticsFilter{From: ptr(h(0)), To: ptr(h(72))}, []domain.TrendPoint{
			{Date: "2025-03-10", Created: 2, Resolved: 2, SLAMissed: 1},
			{Date: "2025-03-11", Created: 4},
			{Date: "2025-03-12", Created: 1, Resolved: 1, SLAMissed: 1},
		}},
		{"south with empty days", domain.AnalyticsFilter{From: ptr(h(-48)), To: ptr(h(96)), Zones: []string{"south"}}, []domain.TrendPoint{
			{Date: "2025-03-08"}, {Date: "2025-03-09"}, {Date: "2025-03-10"},
			{Date: "2025-03-11", Created: 2},
			{Date: "2025-03-12", Created: 1, Resolved: 1, SLAMissed: 1},
			{Date: "2025-03-13"},
		}},
		{"partial days", domain.AnalyticsFilter{From: ptr(h(11)), To: ptr(h(25)), ScopeZones: []string{"north"}}, []domain.TrendPoint{
			{Date: "2025-03-10", Resolved: 1, SLAMissed: 1},
			{Date: "2025-03-11", Created: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := must[[]domain.TrendPoint](t)(e.s.Trends(e.ctx, tc.f))
			if diff := gocmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("Trends (-want +got):\n%s", diff)
			}
		})
	}
	// The default window is the 30 days ending on the day of Now.
	got := must[[]domain.TrendPoint](t)(e.s.Trends(e.ctx, domain.AnalyticsFilter{Now: h(72 + 5)}))
	if len(got) != 30 || got[29].Date != "2025-03-13" || got[0].Date != "2025-02-12" {
		t.Fatalf("default window = %d points %v … %v", len(got), got[0], got[len(got)-1])
	}
	if got[26] != (domain.TrendPoint{Date: "2025-03-10", Created: 2, Resolved: 2, SLAMissed: 1}) {
		t.Errorf("default window day 2025-03-10 = %+v", got[26])
	}
	_, err := e.s.Trends(e.ctx, domain.AnalyticsFilter{From: ptr(h(10)), To: ptr(h(10))})
	wantCode(t, err, domain.CodeInvalid, "")
	_, err = e.s.Trends(e.ctx, domain.AnalyticsFilter{From: ptr(h(0)), To: ptr(h(24 * 3000))})
	wantCode(t, err, domain.CodeInvalid, "")
}

func testAnalyticsEmpty(t *testing.T, open Factory) {
	e := newEnv(t, open)
	o := must[domain.TicketOverview](t)(e.s.TicketOverview(e.ctx, domain.AnalyticsFilter{}))
	if diff := gocmp.Diff(emptyOverview(), o, cmpOpts...); diff != "" {
		t.Errorf("empty overview (-want +got):\n%s", diff)
	}
	if z := must[[]domain.ZoneStats](t)(e.s.ZoneStats(e.ctx, domain.AnalyticsFilter{})); len(z) != 0 {
		t.Errorf("empty zone stats = %v", z)
	}
	if p := must[[]domain.TeamPerformance](t)(e.s.TeamPerformance(e.ctx, domain.AnalyticsFilter{})); len(p) != 0 {
		t.Errorf("empty team performance = %v", p)
	}
}
