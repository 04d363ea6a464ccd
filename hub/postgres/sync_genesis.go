package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// genesisRow is one create change of a seeded row, with its patch already encoded.
type genesisRow struct {
	entityID, zone string
	entity         domain.Entity
	patch          []byte
	at             time.Time
}

// copyGenesis appends one create ("genesis") change per seeded row, zones, teams, users and
// then tickets, to the change log in tx with one COPY, numbered after the log's head, and
// moves the change_seq counter past them. The log is sync's source of truth (every replica's
// row is a replay of its changes), so seeded rows need their history like any other. Zones,
// teams and users are read back as stored (teams after their performance refresh); tickets
// are streamed again from ds in the exact form BulkTicketRow stored. Each change has origin
// "seed", the row's created_at as its time and an HLC at that millisecond.
func copyGenesis(ctx context.Context, tx pgx.Tx, ds *seed.Dataset, received time.Time) error {
	var head int64
	if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&head); err != nil {
		return fmt.Errorf("genesis: read change seq: %w", err)
	}
	city, err := cityGenesis(ctx, tx)
	if err != nil {
		return err
	}
	src := &genesisSource{seq: head, received: received, row: make([]any, 0, len(changeColumns))}
	src.city = city
	src.next, src.stop = iter.Pull(ds.Tickets)
	defer src.stop()
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, changeColumns, src)
	if src.err != nil {
		return src.err
	}
	if err != nil {
		return fmt.Errorf("genesis: copy changes: %w", err)
	}
	if _, err := tx.Exec(ctx, "UPDATE counters SET value = value + $1 WHERE name = 'change_seq'", n); err != nil {
		return fmt.Errorf("genesis: set change seq: %w", err)
	}
	return nil
}

// cityGenesis reads zones, teams and users as stored and returns their create changes.
func cityGenesis(ctx context.Context, tx pgx.Tx) ([]genesisRow, error) {
	var out []genesisRow
	rows, err := tx.Query(ctx, "SELECT "+zoneCols+" FROM zones ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("genesis zones: %w", err)
	}
	zones, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Zone, error) { return scanZone(r) })
	if err != nil {
		return nil, fmt.Errorf("genesis zones: %w", err)
	}
	for _, z := range zones {
		b, _ := json.Marshal(z)
		out = append(out, genesisRow{entity: domain.EntityZone, entityID: z.ID, zone: z.Name, patch: b, at: z.CreatedAt})
	}
	rows, err = tx.Query(ctx, "SELECT "+teamCols+" FROM teams t ORDER BY t.created_at, t.id")
	if err != nil {
		return nil, fmt.Errorf("genesis teams: %w", err)
	}
	teams, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Team, error) { return scanTeam(r) })
	if err != nil {
		return nil, fmt.Errorf("genesis teams: %w", err)
	}
	zoneOf := map[string]string{}
	for _, t := range teams {
		patch, err := teamPatch(nil, t)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(patch)
		zoneOf[t.ID] = t.Zone
		out = append(out, genesisRow{entity: domain.EntityTeam, entityID: t.ID, zone: t.Zone, patch: b, at: t.CreatedAt})
	}
	rows, err = tx.Query(ctx, "SELECT "+userCols+" FROM users ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("genesis users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("genesis users: %w", err)
	}
	for _, u := range users {
		zone := ""
		if u.TeamID != nil {
			zone = zoneOf[*u.TeamID]
		}
		b, _ := json.Marshal(u)
		out = append(out, genesisRow{entity: domain.EntityUser, entityID: u.ID, zone: zone, patch: b, at: u.CreatedAt})
	}
	return out, nil
}

// genesisSource feeds the COPY: first the city rows, then one change per streamed ticket.
type genesisSource struct {
	city     []genesisRow
	next     func() (domain.Ticket, bool)
	stop     func()
	seq      int64
	received time.Time
	row      []any
	err      error
}

func (g *genesisSource) Next() bool {
	var r genesisRow
	if len(g.city) > 0 {
		r, g.city = g.city[0], g.city[1:]
	} else {
		t, ok := g.next()
		if !ok {
			return false
		}
		t.DueDate, t.CreatedAt, t.UpdatedAt = utc(t.DueDate), utc(t.CreatedAt), utc(t.UpdatedAt)
		t.AssignedAt, t.StartedAt, t.ResolvedAt = utcPtr(t.AssignedAt), utcPtr(t.StartedAt), utcPtr(t.ResolvedAt)
		t.ClosedAt, t.DeletedAt = utcPtr(t.ClosedAt), nil
		if t.Skills == nil {
			t.Skills = []string{}
		}
		if n := syncstore.TicketNumberValue(t.Number); n > 0 {
			t.Number = domain.TicketNumber(n)
		}
		b, err := json.Marshal(t)
		if err != nil {
			g.err = fmt.Errorf("genesis ticket %s: %w", t.ID, err)
			return false
		}
		r = genesisRow{entity: domain.EntityTicket, entityID: t.ID, zone: t.Zone, patch: b, at: t.CreatedAt}
	}
	g.seq++
	at := r.at.UTC()
	ts := hlc.Timestamp{Wall: at.UnixMilli(), Node: syncstore.SeedOrigin}
	g.row = append(g.row[:0], g.seq, domain.NewID(at), syncstore.SeedOrigin, syncstore.SeedOrigin, string(r.entity),
		r.entityID, string(domain.OpUpsert), r.zone, string(r.patch), ts.String(), at, g.received, "{}")
	return true
}

func (g *genesisSource) Values() ([]any, error) { return g.row, nil }

func (g *genesisSource) Err() error { return g.err }
