package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// genesisRow is one create change of a seeded row, with its patch already encoded.
type genesisRow struct {
	id, entityID, zone string
	entity             domain.Entity
	patch              []byte
	at                 time.Time
}

// writeGenesis appends one create ("genesis") change per seeded row, zones, teams, users and
// then tickets, to the change log in tx, numbered after the log's head, and moves the
// change_seq counter past them. The log is sync's source of truth (every replica's row is a
// replay of its changes), so seeded rows need their history like any other. Zones, teams
// and users are read back as stored (teams after their performance refresh); tickets are
// streamed again from ds in the exact form the loader stored. Each change has origin "seed",
// the row's created_at as its time and an HLC at that millisecond.
func writeGenesis(ctx context.Context, tx *sql.Tx, ds *seed.Dataset, received time.Time) error {
	var head int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&head); err != nil {
		return fmt.Errorf("genesis: read change seq: %w", err)
	}
	w := &genesisWriter{tx: tx, seq: head, received: received}
	city, err := cityGenesis(ctx, tx)
	if err != nil {
		return err
	}
	for _, r := range city {
		if err := w.add(ctx, r); err != nil {
			return err
		}
	}
	for t := range ds.Tickets {
		r, err := ticketGenesis(t)
		if err != nil {
			return err
		}
		if err := w.add(ctx, r); err != nil {
			return err
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counters SET value = ? WHERE name = 'change_seq'", w.seq); err != nil {
		return fmt.Errorf("genesis: set change seq: %w", err)
	}
	return nil
}

// cityGenesis reads zones, teams and users as stored and returns their create changes.
func cityGenesis(ctx context.Context, tx *sql.Tx) ([]genesisRow, error) {
	var out []genesisRow
	zoneOf := map[string]string{}
	rows, err := tx.QueryContext(ctx, "SELECT "+zoneCols+" FROM zones ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("genesis zones: %w", err)
	}
	for rows.Next() {
		z, err := scanZone(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		b, _ := json.Marshal(z)
		out = append(out, genesisRow{entity: domain.EntityZone, entityID: z.ID, zone: z.Name, patch: b, at: z.CreatedAt})
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, "SELECT "+teamCols+" FROM teams t ORDER BY t.created_at, t.id")
	if err != nil {
		return nil, fmt.Errorf("genesis teams: %w", err)
	}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		patch, err := teamPatch(nil, t)
		if err != nil {
			rows.Close()
			return nil, err
		}
		b, _ := json.Marshal(patch)
		zoneOf[t.ID] = t.Zone
		out = append(out, genesisRow{entity: domain.EntityTeam, entityID: t.ID, zone: t.Zone, patch: b, at: t.CreatedAt})
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("genesis users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		zone := ""
		if u.TeamID != nil {
			zone = zoneOf[*u.TeamID]
		}
		b, _ := json.Marshal(u)
		out = append(out, genesisRow{entity: domain.EntityUser, entityID: u.ID, zone: zone, patch: b, at: u.CreatedAt})
	}
	return out, rows.Err()
}

// ticketGenesis is the create change of a seeded ticket in the form BulkLoad stored it.
func ticketGenesis(t domain.Ticket) (genesisRow, error) {
	t.DueDate, t.CreatedAt, t.UpdatedAt = trunc(t.DueDate), trunc(t.CreatedAt), trunc(t.UpdatedAt)
	t.AssignedAt, t.StartedAt, t.ResolvedAt = truncPtr(t.AssignedAt), truncPtr(t.StartedAt), truncPtr(t.ResolvedAt)
	t.ClosedAt, t.DeletedAt = truncPtr(t.ClosedAt), nil
	if t.Skills == nil {
		t.Skills = []string{}
	}
	if n := syncstore.TicketNumberValue(t.Number); n > 0 {
		t.Number = domain.TicketNumber(n)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return genesisRow{}, fmt.Errorf("genesis ticket %s: %w", t.ID, err)
	}
	return genesisRow{entity: domain.EntityTicket, entityID: t.ID, zone: t.Zone, patch: b, at: t.CreatedAt}, nil
}

// genesisWriter batches genesis changes into multi-row INSERTs.
type genesisWriter struct {
	tx       *sql.Tx
	seq      int64
	received time.Time
	args     []any
	n        int
}

const genesisChunk = 500

func (w *genesisWriter) add(ctx context.Context, r genesisRow) error {
	w.seq++
	at := r.at.UTC()
	ts := hlc.Timestamp{Wall: at.UnixMilli(), Node: syncstore.SeedOrigin}
	w.args = append(w.args, w.seq, domain.NewID(at), syncstore.SeedOrigin, syncstore.SeedOrigin, string(r.entity), r.entityID,
		string(domain.OpUpsert), r.zone, string(r.patch), ts.String(), micros(at), micros(w.received), "{}")
	w.n++
	if w.n == genesisChunk {
		return w.flush(ctx)
	}
	return nil
}

func (w *genesisWriter) flush(ctx context.Context) error {
	if w.n == 0 {
		return nil
	}
	q := "INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at, base) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", w.n), ", ")
	if _, err := w.tx.ExecContext(ctx, q, w.args...); err != nil {
		return fmt.Errorf("genesis: insert changes: %w", err)
	}
	w.args, w.n = w.args[:0], 0
	return nil
}
