package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
)

// Analytics definitions are those of hub/sqlite (the storetest suite holds both to them):
//
//   - The ticket set is every live (not deleted) ticket with From <= created_at < To whose zone
//     is in Zones and ScopeZones (each when non-empty).
//   - open: status open, assigned, in_progress or on_hold; unassigned: open and no team;
//     overdue: open and due_date < Now; closed (ZoneStats): status resolved or closed.
//   - resolved: resolved_at set. Resolution time is resolved_at - created_at; SLA met means
//     resolved_at <= due_date; SLAMetRate = met / resolved (0 when none), 0..1.
//   - teams count when live; "active" teams also have is_active; available teams are active
//     with status available.
//   - TeamPerformance takes each live team in Zones/ScopeZones and the tickets assigned to it
//     within the time window (whatever their zone). CompletionRate = 100 × resolved / assigned;
//     ResponseTime = mean minutes from assigned_at to started_at; Efficiency =
//     100 × (0.4 × SLAMetRate + 0.3 × rating/5 + 0.3 × CompletionRate/100). Rows are ordered by
//     Efficiency desc, TicketsCompleted desc, Name, TeamID.
//   - ZoneStats has a row for every zone in Zones/ScopeZones (all zones when empty), by name;
//     Productivity = closed / active teams (0 without active teams); Efficiency = 100 ×
//     SLAMetRate.
//   - Trends has one point per UTC day from From to To (defaults: the 30 days ending today):
//     Created counts tickets created that day, Resolved tickets resolved that day, SLAMissed
//     those resolved that day after their due date.
//
// Durations are averaged in microseconds, as SQLite stores them, so both stores round alike.

const (
	openStatuses = "'open', 'assigned', 'in_progress', 'on_hold'"
	// usBetween is the whole microseconds from a to b.
	usBetween = "(extract(epoch FROM (%s - %s)) * 1000000)"
)

func us(a, b string) string { return fmt.Sprintf(usBetween, b, a) }

// analyticsWhere adds the ticket-set condition of f for table alias k to w.
func analyticsWhere(w *where, f domain.AnalyticsFilter, withZones bool) {
	w.add("k.deleted_at IS NULL")
	if f.From != nil {
		w.add("k.created_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		w.add("k.created_at < ?", f.To.UTC())
	}
	if withZones {
		zoneWhere(w, "k.zone", f)
	}
}

// zoneWhere restricts col to f's Zones and ScopeZones.
func zoneWhere(w *where, col string, f domain.AnalyticsFilter) {
	for _, zs := range [][]string{f.Zones, f.ScopeZones} {
		if len(zs) > 0 {
			w.add(col+" = ANY(?)", zs)
		}
	}
}

func (s *Store) analyticsNow(f domain.AnalyticsFilter) time.Time {
	if f.Now.IsZero() {
		return s.now()
	}
	return utc(f.Now)
}

// ratio returns a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// TicketOverview returns the dashboard KPIs over f's ticket set, computed in SQL.
func (s *Store) TicketOverview(ctx context.Context, f domain.AnalyticsFilter) (domain.TicketOverview, error) {
	o := domain.TicketOverview{ByStatus: map[domain.Status]int{}, ByPriority: map[domain.Priority]int{}}
	for _, st := range domain.Statuses {
		o.ByStatus[st] = 0
	}
	for _, p := range domain.Priorities {
		o.ByPriority[p] = 0
	}
	var w where
	now := w.arg(s.analyticsNow(f))
	analyticsWhere(&w, f, true)
	var (
		resHours, rating *float64
		resolved, met    int
	)
	q := `SELECT count(*),
		count(*) FILTER (WHERE k.status IN (` + openStatuses + `)),
		count(*) FILTER (WHERE k.status IN (` + openStatuses + `) AND k.assigned_team IS NULL),
		count(*) FILTER (WHERE k.status IN (` + openStatuses + `) AND k.due_date < ` + now + `),
		(avg(` + us("k.created_at", "k.resolved_at") + `) / 3600000000)::float8,
		count(k.resolved_at),
		count(*) FILTER (WHERE k.resolved_at <= k.due_date),
		avg(k.customer_rating)::float8
		FROM tickets k WHERE ` + w.sql()
	if err := s.pool.QueryRow(ctx, q, w.args...).Scan(
		&o.Total, &o.Open, &o.Unassigned, &o.Overdue, &resHours, &resolved, &met, &rating); err != nil {
		return o, translate(fmt.Errorf("ticket overview: %w", err))
	}
	o.AvgResolutionHours, o.AvgRating = deref(resHours), deref(rating)
	o.SLAMetRate = ratio(float64(met), float64(resolved))

	// Both breakdowns in one pass: GROUPING SETS counts by status and by priority together.
	var g where
	analyticsWhere(&g, f, true)
	rows, err := s.pool.Query(ctx, `SELECT k.status, k.priority, count(*) FROM tickets k WHERE `+g.sql()+`
		GROUP BY GROUPING SETS ((k.status), (k.priority))`, g.args...)
	if err != nil {
		return o, translate(fmt.Errorf("count tickets: %w", err))
	}
	for rows.Next() {
		var (
			st, pr *string
			n      int
		)
		if err := rows.Scan(&st, &pr, &n); err != nil {
			rows.Close()
			return o, translate(fmt.Errorf("count tickets: %w", err))
		}
		if st != nil {
			o.ByStatus[domain.Status(*st)] = n
		} else if pr != nil {
			o.ByPriority[domain.Priority(*pr)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return o, translate(fmt.Errorf("count tickets: %w", err))
	}

	var t where
	zoneWhere(&t, "zone", f)
	t.add("deleted_at IS NULL")
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE is_active AND status = 'available')
		FROM teams WHERE `+t.sql(), t.args...).Scan(&o.TeamsTotal, &o.TeamsAvailable); err != nil {
		return o, translate(fmt.Errorf("team counts: %w", err))
	}
	return o, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// ZoneStats returns one row per zone in scope, by name, computed in SQL.
func (s *Store) ZoneStats(ctx context.Context, f domain.AnalyticsFilter) ([]domain.ZoneStats, error) {
	var w where
	now := w.arg(s.analyticsNow(f))
	analyticsWhere(&w, f, true)
	var zw where
	zw.args = w.args
	zoneWhere(&zw, "z.name", f)
	q := `SELECT z.name,
		(SELECT count(*) FROM teams t WHERE t.zone = z.name AND t.deleted_at IS NULL),
		(SELECT count(*) FROM teams t WHERE t.zone = z.name AND t.deleted_at IS NULL AND t.is_active),
		coalesce(k.open, 0), coalesce(k.closed, 0), coalesce(k.overdue, 0), k.res_hours,
		coalesce(k.resolved, 0), coalesce(k.met, 0)
		FROM zones z LEFT JOIN (
			SELECT k.zone,
				count(*) FILTER (WHERE k.status IN (` + openStatuses + `)) AS open,
				count(*) FILTER (WHERE k.status IN ('resolved', 'closed')) AS closed,
				count(*) FILTER (WHERE k.status IN (` + openStatuses + `) AND k.due_date < ` + now + `) AS overdue,
				(avg(` + us("k.created_at", "k.resolved_at") + `) / 3600000000)::float8 AS res_hours,
				count(k.resolved_at) AS resolved,
				count(*) FILTER (WHERE k.resolved_at <= k.due_date) AS met
			FROM tickets k WHERE ` + w.sql() + ` GROUP BY k.zone
		) k ON k.zone = z.name
		WHERE ` + zw.sql() + ` ORDER BY z.name`
	rows, err := s.pool.Query(ctx, q, zw.args...)
	if err != nil {
		return nil, translate(fmt.Errorf("zone stats: %w", err))
	}
	defer rows.Close()
	out := []domain.ZoneStats{}
	for rows.Next() {
		var (
			z             domain.ZoneStats
			resHours      *float64
			resolved, met int
		)
		if err := rows.Scan(&z.Zone, &z.TotalTeams, &z.ActiveTeams, &z.OpenTickets, &z.ClosedTickets, &z.OverdueTickets,
			&resHours, &resolved, &met); err != nil {
			return nil, translate(fmt.Errorf("scan zone stats: %w", err))
		}
		z.AvgResolutionHours = deref(resHours)
		z.SLAMetRate = ratio(float64(met), float64(resolved))
		z.Productivity = ratio(float64(z.ClosedTickets), float64(z.ActiveTeams))
		z.Efficiency = 100 * z.SLAMetRate
		out = append(out, z)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("zone stats: %w", err))
	}
	return out, nil
}

// TeamPerformance returns one row per live team in scope, best first, computed in SQL.
func (s *Store) TeamPerformance(ctx context.Context, f domain.AnalyticsFilter) ([]domain.TeamPerformance, error) {
	var w where
	analyticsWhere(&w, f, false)
	var tw where
	tw.args = w.args
	zoneWhere(&tw, "t.zone", f)
	tw.add("t.deleted_at IS NULL")
	q := `SELECT t.id, t.name, t.zone,
		coalesce(k.assigned, 0), coalesce(k.completed, 0), coalesce(k.active, 0), k.rating, k.response, k.res_hours,
		coalesce(k.met, 0)
		FROM teams t LEFT JOIN (
			SELECT k.assigned_team,
				count(*) AS assigned,
				count(k.resolved_at) AS completed,
				count(*) FILTER (WHERE k.status IN (` + activeStatuses + `)) AS active,
				avg(k.customer_rating)::float8 AS rating,
				(avg(` + us("k.assigned_at", "k.started_at") + `) FILTER (WHERE k.started_at >= k.assigned_at) / 60000000)::float8 AS response,
				(avg(` + us("k.created_at", "k.resolved_at") + `) / 3600000000)::float8 AS res_hours,
				count(*) FILTER (WHERE k.resolved_at <= k.due_date) AS met
			FROM tickets k WHERE k.assigned_team IS NOT NULL AND ` + w.sql() + ` GROUP BY k.assigned_team
		) k ON k.assigned_team = t.id
		WHERE ` + tw.sql()
	rows, err := s.pool.Query(ctx, q, tw.args...)
	if err != nil {
		return nil, translate(fmt.Errorf("team performance: %w", err))
	}
	defer rows.Close()
	out := []domain.TeamPerformance{}
	for rows.Next() {
		var (
			p                          domain.TeamPerformance
			assigned, met              int
			rating, response, resHours *float64
		)
		if err := rows.Scan(&p.TeamID, &p.Name, &p.Zone, &assigned, &p.TicketsCompleted, &p.ActiveTickets, &rating,
			&response, &resHours, &met); err != nil {
			return nil, translate(fmt.Errorf("scan team performance: %w", err))
		}
		p.CustomerRating, p.ResponseTime, p.AvgResolutionHours = deref(rating), deref(response), deref(resHours)
		p.CompletionRate = 100 * ratio(float64(p.TicketsCompleted), float64(assigned))
		p.SLAMetRate = ratio(float64(met), float64(p.TicketsCompleted))
		p.Efficiency = 100 * (0.4*p.SLAMetRate + 0.3*p.CustomerRating/5 + 0.3*p.CompletionRate/100)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("team performance: %w", err))
	}
	slices.SortStableFunc(out, func(a, b domain.TeamPerformance) int {
		switch {
		case a.Efficiency != b.Efficiency:
			if a.Efficiency > b.Efficiency {
				return -1
			}
			return 1
		case a.TicketsCompleted != b.TicketsCompleted:
			return b.TicketsCompleted - a.TicketsCompleted
		case a.Name != b.Name:
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.TeamID, b.TeamID)
	})
	return out, nil
}

// maxTrendDays bounds a trends query so that a wide range cannot build a huge answer.
const maxTrendDays = 731

const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// Trends returns created/resolved/SLA-missed counts per UTC day of f's window, zero days
// included. Returns CodeInvalid for an empty window or one longer than two years.
func (s *Store) Trends(ctx context.Context, f domain.AnalyticsFilter) ([]domain.TrendPoint, error) {
	now := s.now()
	if !f.Now.IsZero() {
		now = f.Now.UTC()
	}
	today := now.Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -29), today.AddDate(0, 0, 1)
	if f.From != nil {
		from = utc(*f.From)
	}
	if f.To != nil {
		to = utc(*f.To)
	}
	if !from.Before(to) {
		return nil, domain.FieldErrorf("from", "from must be before to")
	}
	firstDay := from.UnixMicro() / microsPerDay
	lastDay := (to.UnixMicro() - 1) / microsPerDay
	if lastDay-firstDay+1 > maxTrendDays {
		return nil, domain.FieldErrorf("from", "trends cover at most %d days", maxTrendDays)
	}
	points := make([]domain.TrendPoint, 0, lastDay-firstDay+1)
	for d := firstDay; d <= lastDay; d++ {
		points = append(points, domain.TrendPoint{Date: time.UnixMicro(d * microsPerDay).UTC().Format(time.DateOnly)})
	}
	var w where
	fromArg, toArg := w.arg(from), w.arg(to)
	zoneWhere(&w, "zone", f)
	zcond := ""
	if len(w.conds) > 0 {
		zcond = " AND " + w.sql()
	}
	// The day number is the UTC calendar day since 1970-01-01, as SQLite's integer division of
	// unix microseconds gives it.
	q := `SELECT day, sum(created)::bigint, sum(resolved)::bigint, sum(missed)::bigint FROM (
			SELECT ((created_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01') AS day, 1 AS created, 0 AS resolved, 0 AS missed
			FROM tickets WHERE deleted_at IS NULL AND created_at >= ` + fromArg + ` AND created_at < ` + toArg + zcond + `
			UNION ALL
			SELECT ((resolved_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01'), 0, 1, (resolved_at > due_date)::int
			FROM tickets WHERE deleted_at IS NULL AND resolved_at >= ` + fromArg + ` AND resolved_at < ` + toArg + zcond + `
		) d GROUP BY day`
	rows, err := s.pool.Query(ctx, q, w.args...)
	if err != nil {
		return nil, translate(fmt.Errorf("trends: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			day int64
			p   domain.TrendPoint
		)
		if err := rows.Scan(&day, &p.Created, &p.Resolved, &p.SLAMissed); err != nil {
			return nil, translate(fmt.Errorf("scan trend: %w", err))
		}
		if i := day - firstDay; i >= 0 && i < int64(len(points)) {
			points[i].Created, points[i].Resolved, points[i].SLAMissed = p.Created, p.Resolved, p.SLAMissed
		}
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("trends: %w", err))
	}
	return points, nil
}
