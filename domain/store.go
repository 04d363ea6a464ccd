package domain

import (
	"context"
	"time"
)

// TicketFilter selects and orders tickets for a list. Zero values mean "no constraint".
// ScopeZones and ScopeTeam are set by the API from the caller's principal, never from input.
type TicketFilter struct {
	Status       []Status
	Priority     []Priority
	Zone         []string
	Team         string // assigned team id; "none" for unassigned
	Query        string // case-insensitive text search in number, title, description, location
	DueBefore    *time.Time
	DueAfter     *time.Time
	UpdatedAfter *time.Time
	Sort         string // one of TicketSorts; "" = -created_at
	Cursor       string // opaque, from a previous page's NextCursor
	Limit        int    // 1..500, default 50
	ScopeZones   []string
	ScopeTeam    string
	WithTotal    bool // compute Total (a count over the filter); costs a second query
}

// TicketSorts are the accepted sort keys; a leading '-' means descending.
var TicketSorts = []string{"created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date", "priority", "-priority", "ticket_number", "-ticket_number"}

// Page is one page of a list, as the API returns it.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
	Total      *int   `json:"total,omitempty"`
}

// TeamFilter selects teams.
type TeamFilter struct {
	Zone       []string
	Status     []TeamStatus
	Active     *bool
	ScopeZones []string
}

// TicketStore keeps tickets. Every write also appends its change to the change log in the same
// transaction, with the actor taken from the principal in ctx.
type TicketStore interface {
	// CreateTicket stores t, filling ID, Number and times if empty. Returns CodeInvalid if the
	// zone does not exist, CodeConflict if the ID is taken.
	CreateTicket(ctx context.Context, t Ticket) (Ticket, error)
	// GetTicket returns CodeNotFound for an unknown or deleted ticket.
	GetTicket(ctx context.Context, id string) (Ticket, error)
	// UpdateTicket reads the ticket, calls fn, validates references and stores the result, all
	// in one transaction. fn must be pure: it can run again on retry.
	UpdateTicket(ctx context.Context, id string, fn func(Ticket) (Ticket, error)) (Ticket, error)
	// DeleteTicket soft-deletes: the row stays as a tombstone for sync.
	DeleteTicket(ctx context.Context, id string) error
	ListTickets(ctx context.Context, f TicketFilter) (Page[Ticket], error)
	// AssignTickets assigns every ticket in ids to team atomically: all or none. Records an
	// Assignment per ticket with method ("manual" or "auto").
	AssignTickets(ctx context.Context, ids []string, teamID, method string) ([]Ticket, error)
}

// TeamStore keeps teams.
type TeamStore interface {
	CreateTeam(ctx context.Context, t Team) (Team, error)
	GetTeam(ctx context.Context, id string) (Team, error)
	UpdateTeam(ctx context.Context, id string, fn func(Team) (Team, error)) (Team, error)
	// DeleteTeam soft-deletes; CodeConflict while the team has active tickets.
	DeleteTeam(ctx context.Context, id string) error
	ListTeams(ctx context.Context, f TeamFilter) ([]Team, error)
}

// UserStore keeps users and refresh tokens.
type UserStore interface {
	// CreateUser returns CodeConflict for a taken username or email.
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// UpdateUser logs the change in the zone of the user's team, as the other writes do.
	// Deactivating a user revokes their refresh tokens in the same transaction.
	UpdateUser(ctx context.Context, id string, fn func(User) (User, error)) (User, error)
	ListUsers(ctx context.Context) ([]User, error)

	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns CodeNotFound for an unknown hash.
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RevokeRefreshToken is idempotent.
	RevokeRefreshToken(ctx context.Context, hash string) error
}

// ZoneStore keeps zones.
type ZoneStore interface {
	CreateZone(ctx context.Context, z Zone) (Zone, error)
	GetZone(ctx context.Context, name string) (Zone, error)
	ListZones(ctx context.Context) ([]Zone, error)
}

// ChangeLog reads the hub's ordered change log.
type ChangeLog interface {
	// ListChanges returns up to limit changes with Seq > after, in Seq order, restricted to
	// zones when zones is non-empty.
	ListChanges(ctx context.Context, after int64, zones []string, limit int) ([]Change, error)
	// LastSeq is the highest Seq given so far (0 for an empty log).
	LastSeq(ctx context.Context) (int64, error)
}

// Store is everything the hub keeps. It has two implementations, hub/postgres and hub/sqlite,
// held to one conformance suite (hub/storetest).
type Store interface {
	TicketStore
	TeamStore
	UserStore
	ZoneStore
	NoteStore
	ChangeLog
	AnalyticsStore
	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
