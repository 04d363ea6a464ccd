// Package seed makes deterministic synthetic operations data for `aiff seed` and `aiff demo`:
// the districts of a real city as zones, field teams with skills and shifts, the users who log
// in, and months of ticket history with daily and weekly rhythms, storms, SLA misses and
// customer ratings.
//
// Generate is pure: the same Config gives the same Dataset, byte for byte, so a demo, a test or
// a benchmark can be reproduced from its seed. Tickets are streamed (an iter.Seq), so a dataset
// of millions of tickets needs no more memory than one ticket. Stores load a Dataset through
// their BulkLoad method (the Sink interface); Load drives it with a progress display.
package seed

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/aiff/aiff/domain"
)

// Config says what to generate. Every field is part of the dataset's identity: the same Config
// always yields the same Dataset.
type Config struct {
	Seed    int64
	Zones   int // districts, 1..MaxZones
	Teams   int // field teams, at least Zones; spread round-robin over the zones
	Tickets int // tickets in the history, numbered 1..Tickets
	Days    int // length of the history, ending at Now
	// Now is the end of the history: the newest ticket is created just before it, and ticket
	// states (open, in progress, closed …) are as of Now. It is used in UTC, truncated to the
	// second; the zero value means 2026-01-01T00:00:00Z so that Generate stays a pure function.
	Now time.Time
	// PasswordHash is stored for every generated user, so all demo logins share one password.
	PasswordHash string
}

// Limits of a Config, checked by Validate.
const (
	MaxTeams   = 1000
	MaxTickets = 50_000_000
	MaxDays    = 3650
)

// DemoConfig is the dataset `aiff demo` starts with: eight inner-Berlin districts, three teams
// each, and 90 days of history. It is sized to load into SQLite in well under two seconds on a
// laptop (see the package benchmarks), so the demo is up as soon as it starts.
func DemoConfig(now time.Time, passwordHash string) Config {
	return Config{Seed: 1, Zones: 8, Teams: 24, Tickets: 20_000, Days: 90, Now: now, PasswordHash: passwordHash}
}

// Validate reports the first out-of-range field as a CodeInvalid error naming it, so that a
// command can reject bad flags with a one-line reason.
func (c Config) Validate() error {
	switch {
	case c.Zones < 1 || c.Zones > MaxZones:
		return domain.FieldErrorf("zones", "zones must be between 1 and %d", MaxZones)
	case c.Teams < c.Zones || c.Teams > MaxTeams:
		return domain.FieldErrorf("teams", "teams must be between the number of zones (%d) and %d", c.Zones, MaxTeams)
	case c.Tickets < 0 || c.Tickets > MaxTickets:
		return domain.FieldErrorf("tickets", "tickets must be between 0 and %d", MaxTickets)
	case c.Days < 1 || c.Days > MaxDays:
		return domain.FieldErrorf("days", "days must be between 1 and %d", MaxDays)
	case c.PasswordHash == "":
		return domain.FieldErrorf("password", "a password hash is required for the seeded users")
	}
	return nil
}

// normalize clamps c into range, so that Generate never fails; Validate is how callers learn
// that a value was out of range.
func (c Config) normalize() Config {
	c.Zones = min(max(c.Zones, 1), MaxZones)
	c.Teams = min(max(c.Teams, c.Zones), MaxTeams)
	c.Tickets = min(max(c.Tickets, 0), MaxTickets)
	c.Days = min(max(c.Days, 1), MaxDays)
	if c.Now.IsZero() {
		c.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.Now = c.Now.UTC().Truncate(time.Second)
	return c
}

// Dataset is a generated city. Zones, Teams and Users are small and held in memory; Tickets are
// produced on demand.
type Dataset struct {
	// Config is the configuration actually used, after clamping.
	Config Config
	Zones  []domain.Zone
	Teams  []domain.Team
	// Users are admin, dispatcher, viewer, then one field user per team (field-<zone>-<n>).
	Users []domain.User
	// Tickets yields Config.Tickets tickets numbered 1..N in creation order, each valid per
	// Ticket.Validate and referring only to Zones, Teams and Users above. It can be ranged over
	// any number of times and yields the same tickets every time. Performance fields of the
	// teams are left zero: stores compute them from the tickets after loading.
	Tickets iter.Seq[domain.Ticket]
}

// Sink is a store that can take a whole dataset as its initial state.
type Sink interface {
	// BulkLoad writes ds into an empty store: zones, teams, users and tickets, the ticket
	// number counter set past the last ticket, and the teams' performance columns computed from
	// the loaded tickets. It calls progress(done, total) as tickets are written (total is
	// ds.Config.Tickets), never concurrently (a loader may call it from a goroutine of its
	// driver, as pgx's COPY does). The load is not written to the change log:
	// it is the state edges bootstrap from, not a history of edits. Returns CodeConflict if the
	// store already holds zones, teams or tickets.
	BulkLoad(ctx context.Context, ds *Dataset, progress func(done, total int)) error
}

// Random streams. Each part of the dataset draws from its own stream, so that, for example,
// asking for more tickets does not change the teams.
const (
	streamZones = iota + 1
	streamTeams
	streamUsers
	streamDemand
	streamTickets
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// Generate builds the dataset for cfg. Out-of-range values are clamped (see Validate).
func Generate(cfg Config) *Dataset {
	cfg = cfg.normalize()
	g := &generator{cfg: cfg, start: cfg.Now.Add(-time.Duration(cfg.Days) * 24 * time.Hour)}
	ds := &Dataset{Config: cfg}
	g.geo = cityZones(cfg.Zones)
	// The city and its staff exist a month before the first ticket.
	setup := g.start.Add(-30 * 24 * time.Hour)

	zr := newRand(cfg.Seed, streamZones)
	for i, z := range g.geo {
		ds.Zones = append(ds.Zones, domain.Zone{
			ID:        newULID(zr, setup.Add(time.Duration(i)*time.Minute)),
			Name:      z.name,
			Region:    z.region,
			Boundary:  slices.Clone(z.boundary),
			Center:    z.center,
			CreatedAt: setup.Add(time.Duration(i) * time.Minute),
		})
		// Demand differs by district: zones come nearest the centre first, and the centre is
		// busier than the outskirts (up to about 2:1), with ±20 % of local character.
		g.zoneWeight = append(g.zoneWeight, (1.2-0.6*float64(i)/float64(len(g.geo)))*(0.8+0.4*zr.Float64()))
	}

	ds.Teams, g.teamZone, g.teamLocal = makeTeams(cfg, g.geo, setup.Add(time.Hour))
	g.teams = slices.Clone(ds.Teams) // callers may edit ds.Teams; the stream must not change
	g.zoneTeams = make([][]int, len(g.geo))
	for i, z := range g.teamZone {
		g.zoneTeams[z] = append(g.zoneTeams[z], i)
	}
	ds.Users = makeUsers(cfg, g.geo, ds.Teams, g.teamZone, g.teamLocal, setup.Add(2*time.Hour))
	for _, u := range ds.Users[3:] {
		g.fieldUser = append(g.fieldUser, u.Username)
	}
	g.planDemand()
	ds.Tickets = g.tickets
	return ds
}

// FieldUsername is the login of the field user of the n-th (1-based) team of a zone, e.g.
// field-prenzlauer-berg-2 — ASCII, so it is easy to type and print.
func FieldUsername(zone string, n int) string {
	return "field-" + slug(zone) + "-" + strconv.Itoa(n)
}

// makeTeams spreads cfg.Teams over the zones round-robin. A zone's teams take the crew kinds in
// turn (starting at a different kind per zone), plus two skills borrowed from other kinds, so
// that three teams still cover most jobs.
func makeTeams(cfg Config, geo []zoneGeo, at time.Time) (teams []domain.Team, zoneOf, localNo []int) {
	rng := newRand(cfg.Seed, streamTeams)
	shifts := [][2]string{{"06:00", "14:00"}, {"08:00", "17:00"}, {"14:00", "22:00"}, {"22:00", "06:00"}}
	shiftNames := []string{"early", "day", "late", "night"}
	for i := range cfg.Teams {
		zi, j := i%len(geo), i/len(geo)
		z := &geo[zi]
		kind := crews[(zi+j)%len(crews)]
		skills := append([]string(nil), kind.skills...)
		for len(skills) < len(kind.skills)+2 {
			other := crews[rng.IntN(len(crews))].skills
			s := other[rng.IntN(len(other))]
			if !slices.Contains(skills, s) {
				skills = append(skills, s)
			}
		}
		slices.Sort(skills)
		name := z.name + " " + kind.name
		if j >= len(crews) {
			name += " " + strconv.Itoa(j/len(crews)+1)
		}
		shift := j % 3
		if kind.name == "Electrical" && j >= len(crews) {
			shift = 3 // a second electrical crew covers the night for outages
		}
		status := domain.TeamAvailable
		switch r := rng.Float64(); {
		case r < 0.2:
			status = domain.TeamBusy
		case r < 0.3:
			status = domain.TeamOffline
		}
		home := z.pointIn(rng)
		created := at.Add(time.Duration(i) * time.Minute)
		teams = append(teams, domain.Team{
			ID:   newULID(rng, created),
			Name: name,
			Zone: z.name,
			Description: fmt.Sprintf("%s crew for %s (%s): %s; %s shift.",
				kind.name, z.name, z.region, kind.about, shiftNames[shift]),
			Skills:     skills,
			Capacity:   4 + rng.IntN(5),
			ShiftStart: shifts[shift][0],
			ShiftEnd:   shifts[shift][1],
			HomeLat:    ptr(home.Lat),
			HomeLng:    ptr(home.Lng),
			Status:     status,
			IsActive:   true,
			CreatedAt:  created,
			UpdatedAt:  created,
		})
		zoneOf = append(zoneOf, zi)
		localNo = append(localNo, j+1)
	}
	return teams, zoneOf, localNo
}

// makeUsers returns admin, dispatcher and viewer, then one field user per team.
func makeUsers(cfg Config, geo []zoneGeo, teams []domain.Team, zoneOf, localNo []int, at time.Time) []domain.User {
	rng := newRand(cfg.Seed, streamUsers)
	user := func(i int, name string, role domain.Role, team *string) domain.User {
		created := at.Add(time.Duration(i) * time.Second)
		return domain.User{
			ID:           newULID(rng, created),
			Username:     name,
			Email:        name + "@aiff.example",
			Role:         role,
			TeamID:       team,
			IsActive:     true,
			PasswordHash: cfg.PasswordHash,
			CreatedAt:    created,
			UpdatedAt:    created,
		}
	}
	users := []domain.User{
		user(0, "admin", domain.RoleAdmin, nil),
		user(1, "dispatcher", domain.RoleDispatcher, nil),
		user(2, "viewer", domain.RoleViewer, nil),
	}
	for i, t := range teams {
		users = append(users, user(3+i, FieldUsername(geo[zoneOf[i]].name, localNo[i]), domain.RoleField, ptr(t.ID)))
	}
	return users
}

// TicketSeq returns the sequence number behind a ticket number ("TKT-000123" → 123), for
// loaders that store the number as an integer.
func TicketSeq(number string) (int64, error) {
	s, ok := strings.CutPrefix(number, "TKT-")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, domain.FieldErrorf("ticket_number", "ticket number %q is not TKT-<n>", number)
	}
	return n, nil
}

// newULID makes a ULID for time t whose entropy comes from rng, so IDs are reproducible.
func newULID(rng *rand.Rand, t time.Time) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t)) // fails only past year 10889
	var e [16]byte
	binary.LittleEndian.PutUint64(e[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(e[8:], rng.Uint64())
	_ = id.SetEntropy(e[:10]) // fails only for a wrong length
	return id.String()
}

func ptr[T any](v T) *T { return &v }

// lognormal draws from a log-normal distribution with the given median and shape sigma.
func lognormal(rng *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*rng.NormFloat64())
}
