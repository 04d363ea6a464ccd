package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

var _ syncstore.Store = (*Store)(nil)

// PushChanges takes in a pushed batch in one write transaction (syncstore.Push).
func (s *Store) PushChanges(ctx context.Context, p domain.Principal, changes []domain.Change) (wire.PushResponse, error) {
	var resp wire.PushResponse
	var ct *cachedSyncTx
	err := s.write(ctx, func(tx *tx) error {
		var err error
		ct = &cachedSyncTx{syncTx: &syncTx{tx}, cache: s.rowCache()}
		resp, err = syncstore.Push(ctx, ct, s.Clock, tx.now, p, changes)
		return err
	})
	if err == nil {
		for _, fn := range ct.after {
			fn()
		}
	}
	s.ingest.Pushed(time.Now())
	return resp, err
}

// syncTx is syncstore.Tx on a write transaction.
type syncTx struct{ tx *tx }

const knownChangesSQL = "SELECT id, seq FROM changes WHERE id = ANY($1)"

func (t *syncTx) KnownChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	rows, err := t.tx.Query(ctx, knownChangesSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("known changes: %w", err)
	}
	return scanKnown(rows)
}

func (t *syncTx) LoggedClocks(ctx context.Context, ids []string) (map[string]string, error) {
	rows, err := t.tx.Query(ctx, "SELECT id, hlc FROM changes WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("logged clocks: %w", err)
	}
	return scanByID[string](rows, "logged clocks")
}

// scanKnown reads KnownChanges' result and closes rows.
func scanKnown(rows pgx.Rows) (map[string]int64, error) {
	return scanByID[int64](rows, "known changes")
}

// scanByID reads rows of (id, value) into a map and closes rows; what names the read in
// errors.
func scanByID[V any](rows pgx.Rows, what string) (map[string]V, error) {
	defer rows.Close()
	out := map[string]V{}
	for rows.Next() {
		var id string
		var v V
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func byEntity(keys []syncstore.RowKey) map[domain.Entity][]string {
	m := map[domain.Entity][]string{}
	for _, k := range keys {
		m[k.Entity] = append(m[k.Entity], k.ID)
	}
	for _, ids := range m {
		slices.Sort(ids) // lock in one order everywhere, so two pushes cannot deadlock
	}
	return m
}

// LockRows reads the rows FOR UPDATE, in id order, so concurrent pushes and API writes to a
// row take turns and each merges over the other's committed change.
func (t *syncTx) LockRows(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]any, error) {
	out := map[syncstore.RowKey]any{}
	for _, q := range lockRowsQueries(keys) {
		rows, err := t.tx.Query(ctx, q.sql, q.ids)
		if err != nil {
			return nil, fmt.Errorf("load %s rows: %w", q.entity, err)
		}
		if err := scanLockedRows(q.entity, rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lockRowsQuery is one entity's part of LockRows.
type lockRowsQuery struct {
	entity domain.Entity
	sql    string
	ids    []string
}

// lockRowsQueries returns LockRows' queries, entities in a fixed order, ids sorted.
func lockRowsQueries(keys []syncstore.RowKey) []lockRowsQuery {
	var out []lockRowsQuery
	m := byEntity(keys)
	for _, entity := range []domain.Entity{domain.EntityZone, domain.EntityTeam, domain.EntityUser, domain.EntityTicket, domain.EntityNote} {
		ids := m[entity]
		if len(ids) == 0 {
			continue
		}
		var q string
		switch entity {
		case domain.EntityTicket:
			q = "SELECT " + ticketCols + " FROM tickets WHERE id = ANY($1) ORDER BY id FOR UPDATE"
		case domain.EntityTeam:
			q = "SELECT " + teamCols + " FROM teams t WHERE t.id = ANY($1) ORDER BY t.id FOR UPDATE OF t"
		case domain.EntityUser:
			q = "SELECT " + userCols + " FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE"
		case domain.EntityZone:
			q = "SELECT " + zoneCols + " FROM zones WHERE id = ANY($1) ORDER BY id FOR UPDATE"
		case domain.EntityNote:
			q = lockNotesSQL
		}
		out = append(out, lockRowsQuery{entity: entity, sql: q, ids: ids})
	}
	return out
}

// scanLockedRows reads one entity's LockRows result into out and closes rows.
func scanLockedRows(entity domain.Entity, rows pgx.Rows, out map[syncstore.RowKey]any) error {
	defer rows.Close()
	for rows.Next() {
		var (
			v   any
			id  string
			err error
		)
		switch entity {
		case domain.EntityTicket:
			var r domain.Ticket
			r, err = scanTicket(rows)
			v, id = r, r.ID
		case domain.EntityTeam:
			var r domain.Team
			r, err = scanTeam(rows)
			v, id = r, r.ID
		case domain.EntityUser:
			var r domain.User
			r, err = scanUser(rows)
			v, id = r, r.ID
		case domain.EntityZone:
			var r domain.Zone
			r, err = scanZone(rows)
			v, id = r, r.ID
		case domain.EntityNote:
			v, id, err = scanLockedNote(rows)
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", entity, err)
		}
		out[syncstore.RowKey{Entity: entity, ID: id}] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load %s rows: %w", entity, err)
	}
	return nil
}

func (t *syncTx) RowChanges(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey][]domain.Change, error) {
	out := map[syncstore.RowKey][]domain.Change{}
	for entity, ids := range byEntity(keys) {
		rows, err := t.tx.Query(ctx, "SELECT "+changeCols+" FROM changes WHERE entity = $1 AND entity_id = ANY($2)", string(entity), ids)
		if err != nil {
			return nil, fmt.Errorf("row changes: %w", err)
		}
		for rows.Next() {
			ch, err := scanChange(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			k := syncstore.RowKey{Entity: ch.Entity, ID: ch.EntityID}
			out[k] = append(out[k], ch)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *syncTx) ZoneExists(ctx context.Context, name string) (bool, error) {
	return t.tx.zoneExists(ctx, name)
}

func (t *syncTx) Team(ctx context.Context, id string) (domain.Team, bool, error) {
	tm, err := getTeam(ctx, t.tx, id, false)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Team{}, false, nil
	}
	if err != nil {
		return domain.Team{}, false, err
	}
	return tm, true, nil
}

// TakeTicketNumbers takes n numbers from ticket_number_seq (migration 0011): no lock, so
// concurrent pushes that create tickets write side by side; numbers another transaction took
// meanwhile may come between them.
func (t *syncTx) TakeTicketNumbers(ctx context.Context, n int) ([]int64, error) {
	return takeTicketNumbers(ctx, t.tx, n)
}

func takeTicketNumbers(ctx context.Context, tx *tx, n int) ([]int64, error) {
	rows, err := tx.Query(ctx, "SELECT nextval('ticket_number_seq') FROM generate_series(1, $1::int)", n)
	if err != nil {
		return nil, fmt.Errorf("next ticket numbers: %w", err)
	}
	nums, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("next ticket numbers: %w", err)
	}
	slices.Sort(nums)
	return nums, nil
}

// advanceTicketNumbersSQL moves ticket_number_seq past $1, a number given rather than taken
// (an import, a ticket numbered before), if it is not past it already, so nextval never
// hands $1 out again.
const advanceTicketNumbersSQL = `SELECT setval('ticket_number_seq', $1::bigint) FROM ticket_number_seq
	WHERE (CASE WHEN is_called THEN last_value ELSE last_value - 1 END) < $1::bigint`

// syncTicketColumns are BulkTicketColumns plus the tombstone time.
var syncTicketColumns = append(slices.Clone(BulkTicketColumns), "deleted_at")

// Write stores a push's outcome with COPY for new tickets and changes and one pipelined
// batch for the other statements, so a batch of a thousand changes costs a handful of round
// trips. The change_seq counter is taken last, to hold its row lock for the shortest time.
func (t *syncTx) Write(ctx context.Context, w *syncstore.Write) (int64, error) {
	tx := t.tx
	var newTickets, changedTickets [][]any
	var maxNum int64
	b := &pgx.Batch{}
	for _, p := range w.Rows {
		if tk, ok := p.Row.(domain.Ticket); ok {
			n := p.Number
			if n == 0 {
				n = syncstore.TicketNumberValue(tk.Number)
			}
			if n == 0 && p.Old != nil {
				n = syncstore.TicketNumberValue(p.Old.(domain.Ticket).Number)
			}
			if n == 0 {
				nums, err := t.TakeTicketNumbers(ctx, 1)
				if err != nil {
					return 0, err
				}
				n = nums[0]
			}
			maxNum = max(maxNum, n)
			row := append(BulkTicketRow(make([]any, 0, len(syncTicketColumns)), tk, n), utcPtr(tk.DeletedAt))
			if p.Old == nil {
				newTickets = append(newTickets, row)
				continue
			}
			changedTickets = append(changedTickets, row)
			queueAssignment(b, p, tx)
			continue
		}
		if err := queuePut(b, p, tx); err != nil {
			return 0, err
		}
	}
	if maxNum > 0 {
		b.Queue(advanceTicketNumbersSQL, maxNum)
	}
	if len(newTickets) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, syncTicketColumns, pgx.CopyFromRows(newTickets)); err != nil {
			return 0, fmt.Errorf("copy tickets: %w", err)
		}
	}
	if len(changedTickets) > 0 {
		// Changed tickets go through a session temp table: one COPY and one UPDATE … FROM,
		// whatever their number.
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS sync_ticket_rows (LIKE tickets) ON COMMIT DELETE ROWS`); err != nil {
			return 0, fmt.Errorf("ticket staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_ticket_rows"}, syncTicketColumns, pgx.CopyFromRows(changedTickets)); err != nil {
			return 0, fmt.Errorf("stage tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, updateFromStagingSQL); err != nil {
			return 0, fmt.Errorf("update tickets: %w", err)
		}
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, fmt.Errorf("write rows: %w", err)
		}
	}
	var head int64
	n := int64(len(w.Changes))
	if err := tx.QueryRow(ctx, "UPDATE counters SET value = value + $1 WHERE name = 'change_seq' RETURNING value", n).Scan(&head); err != nil {
		return 0, fmt.Errorf("reserve change seqs: %w", err)
	}
	rows := make([][]any, len(w.Changes))
	for i := range w.Changes {
		c := &w.Changes[i]
		c.Seq = head - n + 1 + int64(i)
		var err error
		if rows[i], err = changeRow(*c, w.Now); err != nil {
			return 0, err
		}
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, changeColumns, pgx.CopyFromRows(rows)); err != nil {
			return 0, fmt.Errorf("append changes: %w", err)
		}
	}
	b = &pgx.Batch{}
	for _, nc := range w.Conflicts {
		c := nc.Conflict
		c.Seq = head // a refused change's record: the log head it was refused at
		if nc.Change >= 0 {
			c.Seq = w.Changes[nc.Change].Seq
		}
		var value any
		if c.Value != nil {
			value = string(c.Value)
		}
		b.Queue(`INSERT INTO sync_conflicts (id, seq, entity, entity_id, field, kind, change_id, origin, actor, hlc, value,
			zone, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (entity, entity_id, field, change_id, kind) DO NOTHING`,
			c.ID, c.Seq, string(c.Entity), c.EntityID, c.Field, string(c.Kind), c.Change, c.Origin, c.Actor, c.HLC,
			value, c.Zone, c.CreatedAt)
	}
	for _, c := range w.Withdrawn {
		b.Queue(`UPDATE sync_conflicts SET resolved_at = $1, resolved_by = 'system', resolution = 'withdrawn'
			WHERE entity = $2 AND entity_id = $3 AND field = $4 AND change_id = $5 AND kind = $6 AND resolved_at IS NULL`,
			w.Now, string(c.Entity), c.EntityID, c.Field, c.Change, string(c.Kind))
	}
	if ids := syncstore.EdgeMade(w.Changes); len(ids) > 0 {
		b.Queue(`UPDATE sync_conflicts SET resolved_at = $1, resolved_by = 'system', resolution = 'withdrawn'
			WHERE kind = 'refused' AND resolved_at IS NULL AND change_id = ANY($2)`, w.Now, ids)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, fmt.Errorf("record conflicts: %w", err)
		}
	}
	return head, nil
}

// changeColumns are the changes columns Write copies, in changeRow order.
var changeColumns = []string{"seq", "id", "origin", "actor", "entity", "entity_id", "op", "zone", "patch", "hlc", "at", "received_at", "base"}

// changeRow is the COPY row of c. A delete's patch is stored as {} like the API's.
func changeRow(c domain.Change, received time.Time) ([]any, error) {
	patch := []byte("{}")
	if c.Op == domain.OpUpsert {
		var err error
		if patch, err = syncstore.AppendPatchJSON(nil, c.Patch); err != nil {
			return nil, fmt.Errorf("encode patch: %w", err)
		}
	}
	base := "{}"
	if len(c.Base) > 0 {
		base = string(syncstore.AppendBaseJSON(nil, c.Base))
	}
	return []any{c.Seq, c.ID, c.Origin, c.Actor, string(c.Entity), c.EntityID, string(c.Op), c.Zone, string(patch),
		c.HLC, c.At.UTC(), received, base}, nil
}

// updateFromStagingSQL writes every staged ticket over its row.
var updateFromStagingSQL = func() string {
	var sets []string
	for _, c := range syncTicketColumns[1:] {
		sets = append(sets, c+" = s."+c)
	}
	return "UPDATE tickets t SET " + strings.Join(sets, ", ") + " FROM sync_ticket_rows s WHERE t.id = s.id"
}()

// queueAssignment records an assignment when a ticket's team changed.
func queueAssignment(b *pgx.Batch, p syncstore.Put, tx *tx) {
	r, old := p.Row.(domain.Ticket), p.Old.(domain.Ticket)
	if r.DeletedAt == nil && r.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *r.AssignedTeam) {
		at := tx.now
		if r.AssignedAt != nil {
			at = *r.AssignedAt
		}
		b.Queue("UPDATE assignments SET status = 'superseded' WHERE ticket_id = $1 AND status = 'assigned'", r.ID)
		b.Queue(`INSERT INTO assignments (id, ticket_id, team_id, assigned_at, assigned_by, method, status, notes)
			VALUES ($1, $2, $3, $4, $5, 'sync', 'assigned', '')`, domain.NewID(tx.now), r.ID, *r.AssignedTeam, at, tx.actor)
	}
}

// queuePut queues the statements of one typed row write other than a ticket.
func queuePut(b *pgx.Batch, p syncstore.Put, tx *tx) error {
	switch r := p.Row.(type) {
	case domain.Note:
		queueNote(b, r, p.Old == nil)
	case domain.Ticket:
		old := p.Old.(domain.Ticket)
		var num any
		if p.Number != 0 {
			num = p.Number
		}
		b.Queue(`UPDATE tickets SET title = $1, description = $2, category = $3, priority = $4, priority_rank = $5,
			status = $6, zone = $7, location = $8, lat = $9, lng = $10, skills = $11, assigned_team = $12, assigned_to = $13,
			due_date = $14, created_at = $15, updated_at = $16, assigned_at = $17, started_at = $18, resolved_at = $19,
			closed_at = $20, customer_rating = $21, deleted_at = $22, number = coalesce($23, number) WHERE id = $24`,
			r.Title, r.Description, r.Category, string(r.Priority), int16(r.Priority.Rank()), string(r.Status), r.Zone,
			r.Location, r.Lat, r.Lng, skillsJSON(r.Skills), r.AssignedTeam, r.AssignedTo, utc(r.DueDate), utc(r.CreatedAt),
			utc(r.UpdatedAt), utcPtr(r.AssignedAt), utcPtr(r.StartedAt), utcPtr(r.ResolvedAt), utcPtr(r.ClosedAt),
			ratingArg(r.CustomerRating), utcPtr(r.DeletedAt), num, r.ID)
		if r.DeletedAt == nil && r.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *r.AssignedTeam) {
			at := tx.now
			if r.AssignedAt != nil {
				at = *r.AssignedAt
			}
			b.Queue("UPDATE assignments SET status = 'superseded' WHERE ticket_id = $1 AND status = 'assigned'", r.ID)
			b.Queue(`INSERT INTO assignments (id, ticket_id, team_id, assigned_at, assigned_by, method, status, notes)
				VALUES ($1, $2, $3, $4, $5, 'sync', 'assigned', '')`, domain.NewID(tx.now), r.ID, *r.AssignedTeam, at, tx.actor)
		}
	case domain.Team:
		if p.Old == nil {
			b.Queue(`INSERT INTO teams (id, name, zone, description, skills, capacity, shift_start, shift_end, home_lat, home_lng,
				status, is_active, tickets_completed, customer_rating, response_time, completion_rate, efficiency, created_at,
				updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
				r.ID, r.Name, r.Zone, r.Description, skillsJSON(r.Skills), int32(r.Capacity), r.ShiftStart, r.ShiftEnd,
				r.HomeLat, r.HomeLng, string(r.Status), r.IsActive, int32(r.TicketsCompleted), r.CustomerRating,
				int32(r.ResponseTime), r.CompletionRate, r.Efficiency, utc(r.CreatedAt), utc(r.UpdatedAt), utcPtr(r.DeletedAt))
			return nil
		}
		b.Queue(`UPDATE teams SET name = $1, zone = $2, description = $3, skills = $4, capacity = $5, shift_start = $6,
			shift_end = $7, home_lat = $8, home_lng = $9, status = $10, is_active = $11, tickets_completed = $12,
			customer_rating = $13, response_time = $14, completion_rate = $15, efficiency = $16, created_at = $17,
			updated_at = $18, deleted_at = $19 WHERE id = $20`,
			r.Name, r.Zone, r.Description, skillsJSON(r.Skills), int32(r.Capacity), r.ShiftStart, r.ShiftEnd, r.HomeLat,
			r.HomeLng, string(r.Status), r.IsActive, int32(r.TicketsCompleted), r.CustomerRating, int32(r.ResponseTime),
			r.CompletionRate, r.Efficiency, utc(r.CreatedAt), utc(r.UpdatedAt), utcPtr(r.DeletedAt), r.ID)
	case domain.Zone:
		bnd, _ := json.Marshal(r.Boundary)
		if p.Old == nil {
			b.Queue(`INSERT INTO zones (id, name, region, boundary, center_lat, center_lng, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				r.ID, r.Name, r.Region, string(bnd), r.Center.Lat, r.Center.Lng, utc(r.CreatedAt))
			return nil
		}
		b.Queue(`UPDATE zones SET region = $1, boundary = $2, center_lat = $3, center_lng = $4, created_at = $5 WHERE id = $6`,
			r.Region, string(bnd), r.Center.Lat, r.Center.Lng, utc(r.CreatedAt), r.ID)
	case domain.User:
		var email any
		if r.Email != "" {
			email = r.Email
		}
		b.Queue(`UPDATE users SET email = $1, role = $2, team_id = $3, is_active = $4, created_at = $5, updated_at = $6 WHERE id = $7`,
			email, string(r.Role), r.TeamID, r.IsActive, utc(r.CreatedAt), utc(r.UpdatedAt), r.ID)
	default:
		return fmt.Errorf("put %T: unknown row type", p.Row)
	}
	return nil
}

// Snapshot reads the rows of zones and the log position in one repeatable-read transaction.
func (s *Store) Snapshot(ctx context.Context, zones []string) (syncstore.Snapshot, error) {
	var snap syncstore.Snapshot
	if len(zones) == 0 {
		return snap, nil
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&snap.Cursor); err != nil {
			return fmt.Errorf("snapshot cursor: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT `+changeCols+` FROM changes WHERE seq <= $1 AND (
			(entity = 'ticket' AND entity_id IN (SELECT id FROM tickets WHERE zone = ANY($2)))
			OR (entity = 'team' AND entity_id IN (SELECT id FROM teams WHERE zone = ANY($2)))
			OR (entity = 'note' AND entity_id IN (SELECT id FROM notes WHERE zone = ANY($2)))
			OR (entity = 'zone' AND entity_id IN (SELECT id FROM zones WHERE name = ANY($2))))
			ORDER BY entity, entity_id, seq`, snap.Cursor, zones)
		if err != nil {
			return fmt.Errorf("snapshot changes: %w", err)
		}
		defer rows.Close()
		var group []domain.Change
		flush := func() error {
			if len(group) == 0 {
				return nil
			}
			row, err := merge.Replay(group)
			if err != nil {
				return fmt.Errorf("replay %s %s: %w", group[0].Entity, group[0].EntityID, err)
			}
			snap.Rows = append(snap.Rows, row)
			group = group[:0]
			return nil
		}
		for rows.Next() {
			ch, err := scanChange(rows)
			if err != nil {
				return err
			}
			if len(group) > 0 && (group[0].Entity != ch.Entity || group[0].EntityID != ch.EntityID) {
				if err := flush(); err != nil {
					return err
				}
			}
			group = append(group, ch)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("snapshot changes: %w", err)
		}
		return flush()
	})
	return snap, translate(err)
}

const conflictCols = `id, seq, entity, entity_id, field, kind, change_id, origin, actor, hlc, value, zone, created_at,
	resolved_at, resolved_by, resolution`

func scanConflict(row pgx.Row) (syncstore.Conflict, error) {
	var (
		c     syncstore.Conflict
		value []byte
	)
	if err := row.Scan(&c.ID, &c.Seq, &c.Entity, &c.EntityID, &c.Field, &c.Kind, &c.Change, &c.Origin, &c.Actor, &c.HLC,
		&value, &c.Zone, &c.CreatedAt, &c.ResolvedAt, &c.ResolvedBy, &c.Resolution); err != nil {
		return c, err
	}
	if value != nil {
		c.Value = json.RawMessage(value)
	}
	c.CreatedAt, c.ResolvedAt = c.CreatedAt.UTC(), utcPtr(c.ResolvedAt)
	return c, nil
}

// ListConflicts returns conflict records newest first (by id), filtered and paged.
func (s *Store) ListConflicts(ctx context.Context, f syncstore.ConflictFilter) (domain.Page[syncstore.Conflict], error) {
	page := domain.Page[syncstore.Conflict]{Items: []syncstore.Conflict{}}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 500 {
		return page, domain.FieldErrorf("limit", "limit must be between 1 and 500")
	}
	w := &where{}
	if f.Zone != "" {
		w.add("zone = " + w.arg(f.Zone))
	}
	if len(f.ScopeZones) > 0 {
		w.add("zone = ANY(" + w.arg(f.ScopeZones) + ")")
	}
	if f.Resolved != nil {
		if *f.Resolved {
			w.add("resolved_at IS NOT NULL")
		} else {
			w.add("resolved_at IS NULL")
		}
	}
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		var c struct {
			ID string `json:"id"`
		}
		if err != nil || json.Unmarshal(b, &c) != nil || !domain.ValidID(c.ID) {
			return page, domain.FieldErrorf("cursor", "invalid cursor")
		}
		w.add("id < " + w.arg(c.ID))
	}
	rows, err := s.pool.Query(ctx, "SELECT "+conflictCols+" FROM sync_conflicts WHERE "+w.sql()+" ORDER BY id DESC LIMIT "+w.arg(limit+1), w.args...)
	if err != nil {
		return page, translate(fmt.Errorf("list conflicts: %w", err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (syncstore.Conflict, error) { return scanConflict(r) })
	if err != nil {
		return page, translate(fmt.Errorf("list conflicts: %w", err))
	}
	page.Items = append(page.Items, items...)
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		b, _ := json.Marshal(struct {
			ID string `json:"id"`
		}{page.Items[limit-1].ID})
		page.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return page, nil
}

// ResolveConflict marks a conflict resolved; ActionApply writes the lost value back first.
func (s *Store) ResolveConflict(ctx context.Context, id string, action syncstore.Action) (syncstore.Conflict, error) {
	var out syncstore.Conflict
	err := s.write(ctx, func(tx *tx) error {
		c, err := scanConflict(tx.QueryRow(ctx, "SELECT "+conflictCols+" FROM sync_conflicts WHERE id = $1 FOR UPDATE", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.CodeNotFound, "conflict %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("get conflict: %w", err)
		}
		if err := syncstore.Resolve(ctx, &syncTx{tx}, s.Clock, tx.now, tx.actor, &c, action); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE sync_conflicts SET resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4",
			*c.ResolvedAt, c.ResolvedBy, c.Resolution, c.ID); err != nil {
			return fmt.Errorf("resolve conflict: %w", err)
		}
		out = c
		return nil
	})
	return out, err
}

// CreateEdgeCredential stores a new edge credential and returns it with its token.
func (s *Store) CreateEdgeCredential(ctx context.Context, c syncstore.EdgeCredential) (syncstore.EdgeCredential, string, error) {
	if err := syncstore.ValidateEdge(c); err != nil {
		return c, "", err
	}
	token, hash, err := syncstore.NewEdgeToken(c.Name)
	if err != nil {
		return c, "", fmt.Errorf("make edge token: %w", err)
	}
	err = s.write(ctx, func(tx *tx) error {
		for _, z := range c.Zones {
			if ok, err := tx.zoneExists(ctx, z); err != nil {
				return err
			} else if !ok {
				return domain.FieldErrorf("zones", "unknown zone %q", z)
			}
		}
		c.ID, c.CreatedAt, c.RevokedAt, c.ExpiresAt = domain.NewID(tx.now), tx.now, nil, utcPtr(c.ExpiresAt)
		zones, _ := json.Marshal(c.Zones)
		_, err := tx.Exec(ctx, `INSERT INTO edge_credentials (id, name, zones, token_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.Name, string(zones), hash, c.CreatedAt, c.ExpiresAt)
		if isUnique(err) {
			return domain.Errorf(domain.CodeConflict, "an edge named %q already exists", c.Name)
		}
		if err != nil {
			return fmt.Errorf("insert edge credential: %w", err)
		}
		return nil
	})
	if err != nil {
		return syncstore.EdgeCredential{}, "", err
	}
	return c, token, nil
}

const edgeCols = "id, name, zones, created_at, expires_at, revoked_at"

func scanEdge(row pgx.Row) (syncstore.EdgeCredential, error) {
	var (
		c     syncstore.EdgeCredential
		zones []byte
	)
	if err := row.Scan(&c.ID, &c.Name, &zones, &c.CreatedAt, &c.ExpiresAt, &c.RevokedAt); err != nil {
		return c, err
	}
	if err := json.Unmarshal(zones, &c.Zones); err != nil {
		return c, fmt.Errorf("decode zones of edge %s: %w", c.Name, err)
	}
	c.CreatedAt, c.ExpiresAt, c.RevokedAt = c.CreatedAt.UTC(), utcPtr(c.ExpiresAt), utcPtr(c.RevokedAt)
	return c, nil
}

// ListEdgeCredentials returns every credential by name, revoked ones included.
func (s *Store) ListEdgeCredentials(ctx context.Context) ([]syncstore.EdgeCredential, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+edgeCols+" FROM edge_credentials ORDER BY name")
	if err != nil {
		return nil, translate(fmt.Errorf("list edges: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (syncstore.EdgeCredential, error) { return scanEdge(r) })
	if err != nil {
		return nil, translate(fmt.Errorf("list edges: %w", err))
	}
	if out == nil {
		out = []syncstore.EdgeCredential{}
	}
	return out, nil
}

// RevokeEdgeCredential revokes the named credential (idempotent).
func (s *Store) RevokeEdgeCredential(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *tx) error {
		tag, err := tx.Exec(ctx, "UPDATE edge_credentials SET revoked_at = coalesce(revoked_at, $1) WHERE name = $2", tx.now, name)
		if err != nil {
			return fmt.Errorf("revoke edge: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.CodeNotFound, "no edge named %q", name)
		}
		return nil
	})
}

// AuthenticateEdge checks an edge token against the stored hashes.
func (s *Store) AuthenticateEdge(ctx context.Context, token string) (domain.Principal, error) {
	if !syncstore.WellFormedEdgeToken(token) {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "invalid edge token")
	}
	c, err := scanEdge(s.pool.QueryRow(ctx, "SELECT "+edgeCols+" FROM edge_credentials WHERE token_hash = $1", syncstore.HashEdgeToken(token)))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "invalid edge token")
	}
	if err != nil {
		return domain.Principal{}, translate(fmt.Errorf("authenticate edge: %w", err))
	}
	return syncstore.EdgePrincipal(c, s.now())
}
