package syncstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aiff/aiff/domain"
)

// ScopeStore is the part of a hub store that keeps replicas' scopes exact when rows, teams or
// credentials move (sync/PROTOCOL.md §10). Both adapters implement it; the sync server finds
// it by type assertion, so a store without it still syncs, only without exits.
type ScopeStore interface {
	// ListScopeChanges is ListChanges(after, zones, limit) plus the exits: changes that move a
	// row out of zones (the row's previous logged change is in zones, this one is not), so a
	// replica holding the row hears that it left. zones must be non-empty.
	ListScopeChanges(ctx context.Context, after int64, zones []string, limit int) ([]domain.Change, error)
	// PrevZones returns, for each of changes that may move its row (MayMove), the zone of the
	// row's logged change just before it, by change id; rows without one are absent.
	PrevZones(ctx context.Context, changes []domain.Change) (map[string]string, error)
	// RowHistory returns the complete logged history, in seq order, of every row that is in
	// zones now: the rows of keys, the rows in zones (tickets, teams, the zones themselves) when
	// all is set, and the users of every team returned; and the log head it was read at, in one
	// read transaction. Rows of keys outside zones are left out.
	RowHistory(ctx context.Context, zones []string, keys []RowKey, all bool) (RowHistory, error)
	// UpdateEdgeZones replaces the zones of the named credential (which must exist and not be
	// revoked; the zones must exist) and returns it. CodeNotFound for an unknown name.
	UpdateEdgeZones(ctx context.Context, name string, zones []string) (EdgeCredential, error)
}

// RowHistory is a set of rows with their whole logged history, consistent at Cursor.
type RowHistory struct {
	Cursor int64        `json:"cursor"`
	Rows   []HistoryRow `json:"rows"`
}

// HistoryRow is one row's logged changes in seq order.
type HistoryRow struct {
	Entity  domain.Entity   `json:"entity"`
	ID      string          `json:"id"`
	Changes []domain.Change `json:"changes"`
}

// MayMove reports whether c can change its row's scope zone: a ticket, team or note change
// that sets zone, or a user change that sets team_id. Only these can be exits.
func MayMove(c domain.Change) bool {
	if c.Op != domain.OpUpsert {
		return false
	}
	switch c.Entity {
	case domain.EntityTicket, domain.EntityTeam, domain.EntityNote:
		_, ok := c.Patch["zone"]
		return ok
	case domain.EntityUser:
		_, ok := c.Patch["team_id"]
		return ok
	}
	return false
}

// GroupHistory splits changes sorted by (entity, entity_id, seq) into rows.
func GroupHistory(changes []domain.Change) []HistoryRow {
	var out []HistoryRow
	for _, c := range changes {
		if n := len(out); n == 0 || out[n-1].Entity != c.Entity || out[n-1].ID != c.EntityID {
			out = append(out, HistoryRow{Entity: c.Entity, ID: c.EntityID})
		}
		out[len(out)-1].Changes = append(out[len(out)-1].Changes, c)
	}
	return out
}

// RevokedError is why a live-looking edge token is refused: its credential was revoked or
// has expired. It rides inside a CodeUnauthorized *domain.Error, and the HTTP layers answer it
// with its own problem type (ProblemSlug), so an edge can tell "stop for good and purge" from
// a transient or mistyped credential.
type RevokedError struct {
	Name    string
	Expired bool
	At      time.Time
}

// ProblemSlugRevoked is the last segment of the problem type of a revoked or expired edge
// credential: https://aiff.dev/problems/credential-revoked.
const ProblemSlugRevoked = "credential-revoked"

func (e *RevokedError) Error() string {
	if e.Expired {
		return fmt.Sprintf("edge credential %q has expired", e.Name)
	}
	return fmt.Sprintf("edge credential %q is revoked", e.Name)
}

// ProblemSlug names the problem type HTTP layers answer with.
func (e *RevokedError) ProblemSlug() string { return ProblemSlugRevoked }

// revoked wraps a RevokedError as the unauthorized error callers see.
func revoked(e *RevokedError) error {
	return &domain.Error{Code: domain.CodeUnauthorized, Message: e.Error(), Err: e}
}
