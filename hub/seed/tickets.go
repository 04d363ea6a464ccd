package seed

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aiff/aiff/domain"
)

// generator holds what the ticket stream needs; it is read-only once Generate returns, so the
// stream can be ranged over concurrently.
type generator struct {
	cfg        Config
	start      time.Time // first instant of the history: Now - Days
	geo        []zoneGeo
	zoneWeight []float64
	teams      []domain.Team
	teamZone   []int   // zone index per team
	teamLocal  []int   // 1-based number of the team within its zone
	zoneTeams  [][]int // team indexes per zone
	fieldUser  []string
	hourCount  []int32   // tickets created in each hour of the history
	storm      []bool    // per local day: a storm day with more tickets and more outages
	midnight   time.Time // local midnight starting the history's first day, in UTC+localOffset terms
}

// The city keeps Central European time; a fixed UTC+1 is close enough for the daily rhythm and
// keeps the generator free of time zone data.
const localOffset = time.Hour

// hourWeight is the relative ticket volume per local hour of the day: quiet nights, a morning
// peak as offices open, a second one mid-afternoon.
var hourWeight = [24]float64{
	0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.45, 0.80, 1.20, 1.45, 1.50, 1.40,
	1.25, 1.30, 1.40, 1.35, 1.20, 1.00, 0.80, 0.60, 0.45, 0.35, 0.25, 0.20,
}

// weekdayWeight is the relative volume per weekday, Sunday first.
var weekdayWeight = [7]float64{0.45, 1.15, 1.10, 1.05, 1.00, 0.95, 0.60}

// planDemand decides how many tickets are created in each hour. Each local calendar day's volume
// is its weekday weight × a yearly cycle (more work in winter) × slow growth × noise, and about
// one day in 35 is a storm with double volume; hours within the day follow hourWeight. Counts
// are allocated by systematic rounding of the cumulative weight, so they sum to exactly Tickets.
func (g *generator) planDemand() {
	rng := newRand(g.cfg.Seed, streamDemand)
	hours := g.cfg.Days * 24
	g.midnight = g.start.Add(localOffset).Truncate(24 * time.Hour)
	days := g.day(hours-1) + 1
	g.storm = make([]bool, days)
	dayF := make([]float64, days)
	for d := range days {
		date := g.midnight.Add(time.Duration(d) * 24 * time.Hour)
		f := weekdayWeight[date.Weekday()]
		f *= 1 + 0.15*math.Cos(2*math.Pi*float64(date.YearDay()-15)/365.25)
		f *= 1 + 0.1*float64(d)/float64(days)
		f *= math.Exp(0.1 * rng.NormFloat64())
		if rng.Float64() < 1.0/35 {
			g.storm[d] = true
			f *= 1.6 + 0.6*rng.Float64()
		}
		dayF[d] = f
	}
	w := make([]float64, hours)
	var total float64
	for h := range hours {
		local := g.start.Add(time.Duration(h) * time.Hour).Add(localOffset)
		w[h] = dayF[g.day(h)] * hourWeight[local.Hour()]
		total += w[h]
	}
	g.hourCount = make([]int32, hours)
	var cum float64
	prev := 0
	for h := range hours {
		cum += w[h]
		upto := int(math.Floor(float64(g.cfg.Tickets) * cum / total))
		if h == hours-1 {
			upto = g.cfg.Tickets
		}
		g.hourCount[h] = int32(upto - prev)
		prev = upto
	}
}

// day returns the local calendar day (0 = the day the history starts in) of history hour h.
func (g *generator) day(h int) int {
	return int(g.start.Add(time.Duration(h)*time.Hour).Add(localOffset).Sub(g.midnight) / (24 * time.Hour))
}

// tickets is Dataset.Tickets: a fresh random stream per range, hour by hour, tickets within an
// hour at sorted random seconds, numbered in that order.
func (g *generator) tickets(yield func(domain.Ticket) bool) {
	st := &stream{g: g, rng: newRand(g.cfg.Seed, streamTickets), zoneCum: cumulative(g.zoneWeight)}
	st.catCum[0] = cumulative(categoryMix)
	stormCat := slices.Clone(categoryMix)
	stormCat[4] *= 4 // outage
	stormCat[5] *= 2 // other: storm damage surveys
	st.catCum[1] = cumulative(stormCat)
	for i, c := range domain.Categories {
		pm := priorityMix[c]
		st.prioCum[i] = cumulative(pm[:])
	}
	for i := range ratingMix {
		st.ratingCum[i] = cumulative(ratingMix[i][:])
	}
	var offs []int
	n := 0
	for h, c := range g.hourCount {
		offs = offs[:0]
		for range c {
			offs = append(offs, st.rng.IntN(3600))
		}
		slices.Sort(offs)
		hour := g.start.Add(time.Duration(h) * time.Hour)
		storm := g.storm[g.day(h)]
		for _, o := range offs {
			n++
			if !yield(st.ticket(n, hour.Add(time.Duration(o)*time.Second), storm)) {
				return
			}
		}
	}
}

// stream is one pass over the tickets: the generator, its random stream and the cumulative
// weight tables, computed once per pass.
type stream struct {
	g         *generator
	rng       *rand.Rand
	zoneCum   []float64
	catCum    [2][]float64 // normal day, storm day
	prioCum   [6][]float64 // per category, in domain.Categories order
	ratingCum [2][]float64 // within SLA, missed
}

// ticket makes ticket number n created at created, and plays its lifecycle forward to Now:
// assignment after a response time that depends on priority (and is longer on storm days),
// travel, time on site by category, sometimes a hold for parts or access, resolution, customer
// confirmation and closing. Whatever has not happened by Now decides the status.
func (st *stream) ticket(n int, created time.Time, storm bool) domain.Ticket {
	g, rng, now := st.g, st.rng, st.g.cfg.Now
	zi := pick(rng, st.zoneCum)
	z := &g.geo[zi]
	ci := pick(rng, st.catCum[boolIndex(storm)])
	cat := domain.Categories[ci]
	tmpl := jobs[cat][rng.IntN(len(jobs[cat]))]
	rank := pick(rng, st.prioCum[ci])
	if tmpl.urgent && rank < 2 {
		rank = 2 + rng.IntN(2)
	}
	prio := domain.Priorities[rank]
	p := z.pointIn(rng)
	street := z.streets[rng.IntN(len(z.streets))]
	location := street + " " + strconv.Itoa(1+rng.IntN(180)) + ", " + z.postcodes[rng.IntN(len(z.postcodes))] + " Berlin"
	desc := tmpl.detail + accessNotes[rng.IntN(len(accessNotes))] + " " + channels[rng.IntN(len(channels))]
	skills := append([]string{}, tmpl.skills...)

	t := domain.Ticket{
		ID:          newULID(rng, created),
		Number:      domain.TicketNumber(int64(n)),
		Title:       tmpl.title,
		Description: desc,
		Category:    cat,
		Priority:    prio,
		Zone:        z.name,
		Location:    location,
		Lat:         ptr(p.Lat),
		Lng:         ptr(p.Lng),
		Skills:      skills,
		DueDate:     created.Add(prio.SLA()),
		CreatedAt:   created,
	}

	// The lifecycle, drawn in full whatever Now is, so that every ticket consumes the same
	// random numbers and a ticket's history does not depend on its neighbours' status.
	minutes := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)).Truncate(time.Second) }
	respond := lognormal(rng, responseMedian[rank], 0.7)
	if storm {
		respond *= 2.5
	}
	if rng.Float64() < 0.12 { // a busy spell: the dispatcher queue is long
		respond *= 4 + 8*rng.Float64()
	}
	assignedAt := created.Add(minutes(respond) + time.Second)
	startedAt := assignedAt.Add(minutes(lognormal(rng, startMedian[rank], 0.8)) + time.Second)
	work := workMedian[cat]
	if rank == 3 {
		work *= 0.6 // critical jobs get the senior crew and a second pair of hands
	}
	workDur := minutes(lognormal(rng, work, 0.55)) + time.Minute
	var holdAt, holdEnd time.Time
	hold := rng.Float64() < 0.10
	if hold {
		holdAt = startedAt.Add(time.Duration(float64(workDur) * (0.2 + 0.6*rng.Float64())).Truncate(time.Second))
		holdEnd = holdAt.Add(minutes(lognormal(rng, 1800, 1.0)) + time.Second)
	}
	resolvedAt := startedAt.Add(workDur)
	if hold {
		resolvedAt = resolvedAt.Add(holdEnd.Sub(holdAt))
	}
	closedAt := resolvedAt.Add(minutes(lognormal(rng, 1800, 0.6)) + time.Second)
	neverClosed := rng.Float64() < 0.03 // the customer never confirmed
	cancelled := rng.Float64() < 0.03
	cancelAt := created.Add(minutes(lognormal(rng, 360, 1.0)) + time.Second)
	rated := rng.Float64() < 0.62
	missed := resolvedAt.After(t.DueDate)
	rating := 1 + pick(rng, st.ratingCum[boolIndex(missed)])

	// Which team would take it: one in the zone with every required skill, by capacity.
	team := g.pickTeam(rng, zi, skills)

	assign := func() {
		t.AssignedTeam = ptr(g.teams[team].ID)
		t.AssignedTo = ptr(g.fieldUser[team])
		t.AssignedAt = ptr(assignedAt)
	}
	switch {
	case cancelled && cancelAt.Before(startedAt) && !cancelAt.After(now):
		t.Status = domain.StatusCancelled
		if assignedAt.Before(cancelAt) {
			assign()
		}
		t.UpdatedAt = cancelAt
	case assignedAt.After(now):
		t.Status = domain.StatusOpen
		t.UpdatedAt = created
	case startedAt.After(now):
		t.Status = domain.StatusAssigned
		assign()
		t.UpdatedAt = assignedAt
	case resolvedAt.After(now):
		assign()
		t.StartedAt = ptr(startedAt)
		t.Status, t.UpdatedAt = domain.StatusInProgress, startedAt
		if hold && !holdAt.After(now) {
			t.Status, t.UpdatedAt = domain.StatusOnHold, holdAt
			if !holdEnd.After(now) {
				t.Status, t.UpdatedAt = domain.StatusInProgress, holdEnd
			}
		}
	default:
		assign()
		t.StartedAt = ptr(startedAt)
		t.ResolvedAt = ptr(resolvedAt)
		t.Status, t.UpdatedAt = domain.StatusResolved, resolvedAt
		if !neverClosed && !closedAt.After(now) {
			t.ClosedAt = ptr(closedAt)
			t.Status, t.UpdatedAt = domain.StatusClosed, closedAt
		}
		if rated {
			t.CustomerRating = ptr(rating)
		}
	}
	return t
}

// pickTeam returns the index of a team in zone zi that has every skill in need, weighted by
// capacity; if none has them all, any team of the zone (a dispatcher's cross-skilled pick).
func (g *generator) pickTeam(rng *rand.Rand, zi int, need []string) int {
	var cands [16]int
	c := cands[:0]
	var total int
	for _, i := range g.zoneTeams[zi] {
		if g.teams[i].HasSkills(need) {
			c = append(c, i)
			total += g.teams[i].Capacity
		}
	}
	if len(c) == 0 {
		c = append(c, g.zoneTeams[zi]...)
		total = 0
		for _, i := range c {
			total += g.teams[i].Capacity
		}
	}
	r := rng.IntN(total)
	for _, i := range c {
		r -= g.teams[i].Capacity
		if r < 0 {
			return i
		}
	}
	return c[len(c)-1]
}

// cumulative returns the running sums of w.
func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	var s float64
	for i, x := range w {
		s += x
		out[i] = s
	}
	return out
}

// pick draws an index with probability proportional to its weight, given cumulative weights.
func pick(rng *rand.Rand, cum []float64) int {
	r := rng.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if r < c {
			return i
		}
	}
	return len(cum) - 1
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
