package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
)

// Analytics definitions (shared with hub/postgres through the storetest suite):
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

const (
	openStatuses  = "'open', 'assigned', 'in_progress', 'on_hold'"
	microsPerHour = float64(time.Hour / time.Microsecond)
	microsPerMin  = float64(time.Minute / time.Microsecond)
	microsPerDay  = int64(24 * time.Hour / time.Microsecond)
)

// analyticsWhere builds the ticket-set condition of f for table alias k.
func analyticsWhere(f domain.AnalyticsFilter, withZones bool) (string, []any) {
	where := []string{"k.deleted_at IS NULL"}
	var args []any
	if f.From != nil {
		where = append(where, "k.created_at >= ?")
		args = append(args, micros(*f.From))
	}
	if f.To != nil {
		where = append(where, "k.created_at < ?")
		args = append(args, micros(*f.To))
	}
	if withZones {
		w, a := zoneWhere("k.zone", f)
		where = append(where, w...)
		args = append(args, a...)
	}
	return strings.Join(where, " AND "), args
}

// zoneWhere restricts col to f's Zones and ScopeZones.
func zoneWhere(col string, f domain.AnalyticsFilter) ([]string, []any) {
	var where []string
	var args []any
	for _, zs := range [][]string{f.Zones, f.ScopeZones} {
		if len(zs) > 0 {
			ph, a := inList(zs)
			where = append(where, col+" IN ("+ph+")")
			args = append(args, a...)
		}
	}
	return where, args
}

func (s *Store) analyticsNow(f domain.AnalyticsFilter) int64 {
	if f.Now.IsZero() {
		return micros(s.now())
	}
	return micros(f.Now)
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
	now := s.analyticsNow(f)
	where, args := analyticsWhere(f, true)
	o := domain.TicketOverview{ByStatus: map[domain.Status]int{}, ByPriority: map[domain.Priority]int{}}
	for _, st := range domain.Statuses {
		o.ByStatus[st] = 0
	}
	for _, p := range domain.Priorities {
		o.ByPriority[p] = 0
	}
	var (
		resHours, rating sql.NullFloat64
		resolved, met    int
	)
	q := `SELECT count(*),
		coalesce(sum(k.status IN (` + openStatuses + `)), 0),
		coalesce(sum(k.status IN (` + openStatuses + `) AND k.assigned_team IS NULL), 0),
		coalesce(sum(k.status IN (` + openStatuses + `) AND k.due_date < ?), 0),
		avg(CASE WHEN k.resolved_at IS NOT NULL THEN k.resolved_at - k.created_at END) / ?,
		coalesce(sum(k.resolved_at IS NOT NULL), 0),
		coalesce(sum(k.resolved_at IS NOT NULL AND k.resolved_at <= k.due_date), 0),
		avg(k.customer_rating)
		FROM tickets k WHERE ` + where
	if err := s.reader.QueryRowContext(ctx, q, append([]any{now, microsPerHour}, args...)...).Scan(
		&o.Total, &o.Open, &o.Unassigned, &o.Overdue, &resHours, &resolved, &met, &rating); err != nil {
		return o, fmt.Errorf("ticket overview: %w", err)
	}
	o.AvgResolutionHours, o.AvgRating = resHours.Float64, rating.Float64
	o.SLAMetRate = ratio(float64(met), float64(resolved))

	// One grouped scan gives both breakdowns.
	rows, err := s.reader.QueryContext(ctx, "SELECT k.status, k.priority, count(*) FROM tickets k WHERE "+where+" GROUP BY k.status, k.priority", args...)
	if err != nil {
		return o, fmt.Errorf("count tickets by status and priority: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st domain.Status
			p  domain.Priority
			n  int
		)
		if err := rows.Scan(&st, &p, &n); err != nil {
			return o, fmt.Errorf("scan count: %w", err)
		}
		o.ByStatus[st] += n
		o.ByPriority[p] += n
	}
	if err := rows.Err(); err != nil {
		return o, fmt.Errorf("count tickets by status and priority: %w", err)
	}

	tw, ta := zoneWhere("zone", f)
	tw = append(tw, "deleted_at IS NULL")
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(is_active = 1 AND status = 'available'), 0)
		FROM teams WHERE `+strings.Join(tw, " AND "), ta...).Scan(&o.TeamsTotal, &o.TeamsAvailable); err != nil {
		return o, fmt.Errorf("team counts: %w", err)
	}
	return o, nil
}

// ZoneStats returns one row per zone in scope, by name, computed in SQL.
func (s *Store) ZoneStats(ctx context.Context, f domain.AnalyticsFilter) ([]domain.ZoneStats, error) {
	now := s.analyticsNow(f)
	where, args := analyticsWhere(f, true)
	zw, za := zoneWhere("z.name", f)
	zcond := "1 = 1"
	if len(zw) > 0 {
		zcond = strings.Join(zw, " AND ")
	}
	q := `SELECT z.name,
		(SELECT count(*) FROM teams t WHERE t.zone = z.name AND t.deleted_at IS NULL),
		(SELECT count(*) FROM teams t WHERE t.zone = z.name AND t.deleted_at IS NULL AND t.is_active = 1),
		coalesce(k.open, 0), coalesce(k.closed, 0), coalesce(k.overdue, 0), k.res_hours,
		coalesce(k.resolved, 0), coalesce(k.met, 0)
		FROM zones z LEFT JOIN (
			SELECT k.zone,
				sum(k.status IN (` + openStatuses + `)) AS open,
				sum(k.status IN ('resolved', 'closed')) AS closed,
				sum(k.status IN (` + openStatuses + `) AND k.due_date < ?) AS overdue,
				avg(CASE WHEN k.resolved_at IS NOT NULL THEN k.resolved_at - k.created_at END) / ? AS res_hours,
				sum(k.resolved_at IS NOT NULL) AS resolved,
				sum(k.resolved_at IS NOT NULL AND k.resolved_at <= k.due_date) AS met
			FROM tickets k WHERE ` + where + ` GROUP BY k.zone
		) k ON k.zone = z.name
		WHERE ` + zcond + ` ORDER BY z.name`
	all := append(append([]any{now, microsPerHour}, args...), za...)
	rows, err := s.reader.QueryContext(ctx, q, all...)
	if err != nil {
		return nil, fmt.Errorf("zone stats: %w", err)
	}
	defer rows.Close()
	out := []domain.ZoneStats{}
	for rows.Next() {
		var (
			z             domain.ZoneStats
			resHours      sql.NullFloat64
			resolved, met int
		)
		if err := rows.Scan(&z.Zone, &z.TotalTeams, &z.ActiveTeams, &z.OpenTickets, &z.ClosedTickets, &z.OverdueTickets,
			&resHours, &resolved, &met); err != nil {
			return nil, fmt.Errorf("scan zone stats: %w", err)
		}
		z.AvgResolutionHours = resHours.Float64
		z.SLAMetRate = ratio(float64(met), float64(resolved))
		z.Productivity = ratio(float64(z.ClosedTickets), float64(z.ActiveTeams))
		z.Efficiency = 100 * z.SLAMetRate
		out = append(out, z)
	}
	return out, rows.Err()
}

// TeamPerformance returns one row per live team in scope, best first, computed in SQL.
func (s *Store) TeamPerformance(ctx context.Context, f domain.AnalyticsFilter) ([]domain.TeamPerformance, error) {
	where, args := analyticsWhere(f, false)
	tw, ta := zoneWhere("t.zone", f)
	tw = append(tw, "t.deleted_at IS NULL")
	q := `SELECT t.id, t.name, t.zone,
		coalesce(k.assigned, 0), coalesce(k.completed, 0), coalesce(k.active, 0), k.rating, k.response, k.res_hours,
		coalesce(k.met, 0)
		FROM teams t LEFT JOIN (
			SELECT k.assigned_team,
				count(*) AS assigned,
				sum(k.resolved_at IS NOT NULL) AS completed,
				sum(k.status IN (` + activeStatuses + `)) AS active,
				avg(k.customer_rating) AS rating,
				avg(CASE WHEN k.started_at >= k.assigned_at THEN k.started_at - k.assigned_at END) / ? AS response,
				avg(CASE WHEN k.resolved_at IS NOT NULL THEN k.resolved_at - k.created_at END) / ? AS res_hours,
				sum(k.resolved_at IS NOT NULL AND k.resolved_at <= k.due_date) AS met
			FROM tickets k WHERE k.assigned_team IS NOT NULL AND ` + where + ` GROUP BY k.assigned_team
		) k ON k.assigned_team = t.id
		WHERE ` + strings.Join(tw, " AND ")
	all := append(append([]any{microsPerMin, microsPerHour}, args...), ta...)
	rows, err := s.reader.QueryContext(ctx, q, all...)
	if err != nil {
		return nil, fmt.Errorf("team performance: %w", err)
	}
	defer rows.Close()
	out := []domain.TeamPerformance{}
	for rows.Next() {
		var (
			p                          domain.TeamPerformance
			assigned, met              int
			rating, response, resHours sql.NullFloat64
		)
		if err := rows.Scan(&p.TeamID, &p.Name, &p.Zone, &assigned, &p.TicketsCompleted, &p.ActiveTickets, &rating,
			&response, &resHours, &met); err != nil {
			return nil, fmt.Errorf("scan team performance: %w", err)
		}
		p.CustomerRating, p.ResponseTime, p.AvgResolutionHours = rating.Float64, response.Float64, resHours.Float64
		p.CompletionRate = 100 * ratio(float64(p.TicketsCompleted), float64(assigned))
		p.SLAMetRate = ratio(float64(met), float64(p.TicketsCompleted))
		p.Efficiency = 100 * (0.4*p.SLAMetRate + 0.3*p.CustomerRating/5 + 0.3*p.CompletionRate/100)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
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
		from = f.From.UTC()
	}
	if f.To != nil {
		to = f.To.UTC()
	}
	if !from.Before(to) {
		return nil, domain.FieldErrorf("from", "from must be before to")
	}
	firstDay := micros(from) / microsPerDay
	lastDay := (micros(to) - 1) / microsPerDay
	if lastDay-firstDay+1 > maxTrendDays {
		return nil, domain.FieldErrorf("from", "trends cover at most %d days", maxTrendDays)
	}
	points := make([]domain.TrendPoint, 0, lastDay-firstDay+1)
	for d := firstDay; d <= lastDay; d++ {
		points = append(points, domain.TrendPoint{Date: time.UnixMicro(d * microsPerDay).UTC().Format(time.DateOnly)})
	}
	zw, za := zoneWhere("zone", f)
	zcond := ""
	if len(zw) > 0 {
		zcond = " AND " + strings.Join(zw, " AND ")
	}
	q := `SELECT day, sum(created), sum(resolved), sum(missed) FROM (
			SELECT created_at / ? AS day, 1 AS created, 0 AS resolved, 0 AS missed FROM tickets
			WHERE deleted_at IS NULL AND created_at >= ? AND created_at < ?` + zcond + `
			UNION ALL
			SELECT resolved_at / ?, 0, 1, resolved_at > due_date FROM tickets
			WHERE deleted_at IS NULL AND resolved_at >= ? AND resolved_at < ?` + zcond + `
		) GROUP BY day`
	args := []any{microsPerDay, micros(from), micros(to)}
	args = append(args, za...)
	args = append(args, microsPerDay, micros(from), micros(to))
	args = append(args, za...)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("trends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var day int64
		var p domain.TrendPoint
		if err := rows.Scan(&day, &p.Created, &p.Resolved, &p.SLAMissed); err != nil {
			return nil, fmt.Errorf("scan trend: %w", err)
		}
		if i := day - firstDay; i >= 0 && i < int64(len(points)) {
			points[i].Created, points[i].Resolved, points[i].SLAMissed = p.Created, p.Resolved, p.SLAMissed
		}
	}
	return points, rows.Err()
}
