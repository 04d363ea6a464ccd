package domain

import (
	"context"
	"time"
)

// AnalyticsFilter bounds an analytics query. From/To filter on ticket creation time.
type AnalyticsFilter struct {
	From       *time.Time
	To         *time.Time
	Zones      []string
	ScopeZones []string
	Now        time.Time // reference time for "overdue"; the store fills it when zero
}

// TicketOverview is the KPI summary of the dashboard.
type TicketOverview struct {
	Total              int              `json:"total"`
	Open               int              `json:"open"` // not yet done: open, assigned, in_progress, on_hold
	Unassigned         int              `json:"unassigned"`
	Overdue            int              `json:"overdue"`
	ByStatus           map[Status]int   `json:"by_status"`
	ByPriority         map[Priority]int `json:"by_priority"`
	AvgResolutionHours float64          `json:"avg_resolution_hours"`
	SLAMetRate         float64          `json:"sla_met_rate"` // resolved by due date / resolved, 0..1
	AvgRating          float64          `json:"avg_rating"`
	TeamsTotal         int              `json:"teams_total"`
	TeamsAvailable     int              `json:"teams_available"`
}

// ZoneStats is one row of the zone performance panel.
type ZoneStats struct {
	Zone               string  `json:"zone"`
	TotalTeams         int     `json:"total_teams"`
	ActiveTeams        int     `json:"active_teams"`
	OpenTickets        int     `json:"open_tickets"`
	ClosedTickets      int     `json:"closed_tickets"` // resolved or closed
	OverdueTickets     int     `json:"overdue_tickets"`
	AvgResolutionHours float64 `json:"avg_resolution_hours"`
	SLAMetRate         float64 `json:"sla_met_rate"`
	Productivity       float64 `json:"productivity"` // closed tickets per active team
	Efficiency         float64 `json:"efficiency"`   // percent of tickets closed within SLA
}

// TeamPerformance is one row of the team ranking.
type TeamPerformance struct {
	TeamID             string  `json:"team_id"`
	Name               string  `json:"name"`
	Zone               string  `json:"zone"`
	TicketsCompleted   int     `json:"tickets_completed"`
	ActiveTickets      int     `json:"active_tickets"`
	CustomerRating     float64 `json:"customer_rating"`
	ResponseTime       float64 `json:"response_time"` // mean minutes from assignment to start
	AvgResolutionHours float64 `json:"avg_resolution_hours"`
	CompletionRate     float64 `json:"completion_rate"` // percent of assigned tickets resolved
	SLAMetRate         float64 `json:"sla_met_rate"`
	Efficiency         float64 `json:"efficiency"` // 0..100 blend of SLA, rating and completion
}

// TrendPoint is one day of ticket flow.
type TrendPoint struct {
	Date      string `json:"date"` // YYYY-MM-DD, UTC
	Created   int    `json:"created"`
	Resolved  int    `json:"resolved"`
	SLAMissed int    `json:"sla_missed"`
}

// AnalyticsStore answers the dashboard's aggregate questions in the database, so that the hub
// never loads every ticket to count them.
type AnalyticsStore interface {
	TicketOverview(ctx context.Context, f AnalyticsFilter) (TicketOverview, error)
	ZoneStats(ctx context.Context, f AnalyticsFilter) ([]ZoneStats, error)
	TeamPerformance(ctx context.Context, f AnalyticsFilter) ([]TeamPerformance, error)
	Trends(ctx context.Context, f AnalyticsFilter) ([]TrendPoint, error)
}
