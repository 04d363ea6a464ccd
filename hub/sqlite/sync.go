package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

var _ syncstore.Store = (*Store)(nil)

// observeClock moves the hub clock past every clock in the log, so a restart with a wall
// clock that stepped back never reuses a reading (PROTOCOL.md §3).
func (s *Store) observeClock(ctx context.Context) error {
	if s.Clock == nil {
		s.Clock = hlc.NewClock(domain.HubOrigin)
	}
	var top sql.NullString
	if err := s.writer.QueryRowContext(ctx, "SELECT max(hlc) FROM changes").Scan(&top); err != nil {
		return fmt.Errorf("read largest hlc: %w", err)
	}
	if ts, err := hlc.Parse(top.String); err == nil {
		s.Clock.Observe(ts)
	}
	return nil
}

// PushChanges takes in a pushed batch in one write transaction (syncstore.Push).
func (s *Store) PushChanges(ctx context.Context, p domain.Principal, changes []domain.Change) (wire.PushResponse, error) {
	var resp wire.PushResponse
	var ct *cachedSyncTx
	err := s.write(ctx, func(tx *tx) error {
		var err error
		ct = &cachedSyncTx{syncTx: &syncTx{tx: tx}, cache: s.rowCache()}
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

const changeCols = "seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, base"

// scanChange reads a row of changeCols.
func scanChange(row interface{ Scan(...any) error }) (domain.Change, error) {
	var (
		ch          domain.Change
		patch, base string
		at          int64
	)
	if err := row.Scan(&ch.Seq, &ch.ID, &ch.Origin, &ch.Actor, &ch.Entity, &ch.EntityID, &ch.Op, &ch.Zone, &patch, &ch.HLC, &at, &base); err != nil {
		return ch, fmt.Errorf("scan change: %w", err)
	}
	// The log's patches are compact objects (AppendPatchJSON), split without a full decode.
	var ok bool
	if ch.Patch, ok = syncstore.SplitPatchJSON([]byte(patch)); !ok {
		if err := json.Unmarshal([]byte(patch), &ch.Patch); err != nil {
			return ch, fmt.Errorf("decode patch of change %s: %w", ch.ID, err)
		}
	}
	if base != "" && base != "{}" {
		if err := json.Unmarshal([]byte(base), &ch.Base); err != nil {
			return ch, fmt.Errorf("decode base of change %s: %w", ch.ID, err)
		}
	}
	ch.At = fromMicros(at)
	return ch, nil
}

// rowClocks returns the logged changes of one row with the parts Stamp needs.
func (tx *tx) rowClocks(ctx context.Context, entity domain.Entity, id string) ([]domain.Change, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, origin, hlc, at FROM changes WHERE entity = ? AND entity_id = ?", string(entity), id)
	if err != nil {
		return nil, fmt.Errorf("row clocks: %w", err)
	}
	defer rows.Close()
	var out []domain.Change
	for rows.Next() {
		var (
			c  domain.Change
			at int64
		)
		if err := rows.Scan(&c.ID, &c.Origin, &c.HLC, &at); err != nil {
			return nil, fmt.Errorf("row clocks: %w", err)
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// syncTx is syncstore.Tx on a write transaction.
type syncTx struct {
	tx *tx
	// stmts are statements prepared for this transaction, by query text: a push updates
	// hundreds of rows with the same statement, which is then parsed once.
	stmts map[string]*sql.Stmt
}

// exec runs query through a statement prepared once per transaction.
func (t *syncTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := t.stmts[query]
	if !ok {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if t.stmts == nil {
			t.stmts = map[string]*sql.Stmt{}
		}
		t.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}

func (t *syncTx) LoggedClocks(ctx context.Context, ids []string) (map[string]string, error) {
	return queryByID[string](ctx, t.tx, "SELECT id, hlc FROM changes WHERE id IN (%s)", ids, "logged clocks")
}

func (t *syncTx) KnownChanges(ctx context.Context, ids []string) (map[string]int64, error) {
	return queryByID[int64](ctx, t.tx, "SELECT id, seq FROM changes WHERE id IN (%s)", ids, "known changes")
}

// queryByID runs query (an (id, value) select whose %s takes an IN list) for ids, 500 at a
// time, and returns the values by id; what names the read in errors.
func queryByID[V any](ctx context.Context, q *tx, query string, ids []string, what string) (map[string]V, error) {
	out := map[string]V{}
	for chunk := range slices.Chunk(ids, 500) {
		ph, args := inList(chunk)
		rows, err := q.QueryContext(ctx, fmt.Sprintf(query, ph), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		for rows.Next() {
			var id string
			var v V
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return out, nil
}

// byEntity groups the ids of keys per entity.
func byEntity(keys []syncstore.RowKey) map[domain.Entity][]string {
	m := map[domain.Entity][]string{}
	for _, k := range keys {
		m[k.Entity] = append(m[k.Entity], k.ID)
	}
	return m
}

// LockRows reads the rows; the single writer connection already excludes other writers.
func (t *syncTx) LockRows(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey]any, error) {
	out := map[syncstore.RowKey]any{}
	for entity, ids := range byEntity(keys) {
		if entity == domain.EntityNote {
			if err := t.lockNotes(ctx, ids, out); err != nil {
				return nil, err
			}
			continue
		}
		for start := 0; start < len(ids); start += 500 {
			ph, args := inList(ids[start:min(len(ids), start+500)])
			var q string
			switch entity {
			case domain.EntityTicket:
				q = "SELECT " + ticketCols + " FROM tickets WHERE id IN (" + ph + ")"
			case domain.EntityTeam:
				q = "SELECT " + teamCols + " FROM teams t WHERE t.id IN (" + ph + ")"
			case domain.EntityUser:
				q = "SELECT " + userCols + " FROM users WHERE id IN (" + ph + ")"
			case domain.EntityZone:
				q = "SELECT " + zoneCols + " FROM zones WHERE id IN (" + ph + ")"
			default:
				continue
			}
			rows, err := t.tx.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("load %s rows: %w", entity, err)
			}
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
				}
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("scan %s: %w", entity, err)
				}
				out[syncstore.RowKey{Entity: entity, ID: id}] = v
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (t *syncTx) RowChanges(ctx context.Context, keys []syncstore.RowKey) (map[syncstore.RowKey][]domain.Change, error) {
	out := map[syncstore.RowKey][]domain.Change{}
	for entity, ids := range byEntity(keys) {
		for start := 0; start < len(ids); start += 500 {
			ph, args := inList(ids[start:min(len(ids), start+500)])
			rows, err := t.tx.QueryContext(ctx, "SELECT "+changeCols+" FROM changes WHERE entity = ? AND entity_id IN ("+ph+")",
				append([]any{string(entity)}, args...)...)
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
	}
	return out, nil
}

func (t *syncTx) ZoneExists(ctx context.Context, name string) (bool, error) {
	return t.tx.zoneExists(ctx, name)
}

func (t *syncTx) Team(ctx context.Context, id string) (domain.Team, bool, error) {
	tm, err := getTeam(ctx, t.tx, id)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Team{}, false, nil
	}
	if err != nil {
		return domain.Team{}, false, err
	}
	return tm, true, nil
}

// TakeTicketNumbers takes n consecutive numbers from the counters row (one writer at a time
// here, so its lock makes no one wait).
func (t *syncTx) TakeTicketNumbers(ctx context.Context, n int) ([]int64, error) {
	var last int64
	if err := t.tx.QueryRowContext(ctx, "UPDATE counters SET value = value + ? WHERE name = 'ticket_number' RETURNING value", n).Scan(&last); err != nil {
		return nil, fmt.Errorf("next ticket number: %w", err)
	}
	nums := make([]int64, n)
	for i := range nums {
		nums[i] = last - int64(n) + 1 + int64(i)
	}
	return nums, nil
}

func (t *syncTx) Write(ctx context.Context, w *syncstore.Write) (int64, error) {
	tx := t.tx
	for _, p := range w.Rows {
		if err := t.put(ctx, p); err != nil {
			return 0, err
		}
	}
	var head int64
	n := int64(len(w.Changes))
	if err := tx.QueryRowContext(ctx, "UPDATE counters SET value = value + ? WHERE name = 'change_seq' RETURNING value", n).Scan(&head); err != nil {
		return 0, fmt.Errorf("reserve change seqs: %w", err)
	}
	for i := range w.Changes {
		w.Changes[i].Seq = head - n + 1 + int64(i)
	}
	if err := insertChanges(ctx, tx.Tx, w.Changes, w.Now); err != nil {
		return 0, err
	}
	for _, nc := range w.Conflicts {
		c := nc.Conflict
		c.Seq = head // a refused change's record: the log head it was refused at
		if nc.Change >= 0 {
			c.Seq = w.Changes[nc.Change].Seq
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_conflicts (id, seq, entity, entity_id, field, kind, change_id, origin,
			actor, hlc, value, zone, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (entity, entity_id, field, change_id, kind) DO NOTHING`,
			c.ID, c.Seq, string(c.Entity), c.EntityID, c.Field, string(c.Kind), c.Change, c.Origin, c.Actor, c.HLC,
			nullJSON(c.Value), c.Zone, micros(c.CreatedAt)); err != nil {
			return 0, fmt.Errorf("insert conflict: %w", err)
		}
	}
	for _, c := range w.Withdrawn {
		if _, err := tx.ExecContext(ctx, `UPDATE sync_conflicts SET resolved_at = ?, resolved_by = 'system', resolution = 'withdrawn'
			WHERE entity = ? AND entity_id = ? AND field = ? AND change_id = ? AND kind = ? AND resolved_at IS NULL`,
			micros(w.Now), string(c.Entity), c.EntityID, c.Field, c.Change, string(c.Kind)); err != nil {
			return 0, fmt.Errorf("withdraw conflict: %w", err)
		}
	}
	for chunk := range slices.Chunk(syncstore.EdgeMade(w.Changes), 500) {
		ph, args := inList(chunk)
		if _, err := tx.ExecContext(ctx, `UPDATE sync_conflicts SET resolved_at = ?, resolved_by = 'system', resolution = 'withdrawn'
			WHERE kind = 'refused' AND resolved_at IS NULL AND change_id IN (`+ph+`)`, append([]any{micros(w.Now)}, args...)...); err != nil {
			return 0, fmt.Errorf("withdraw refusals: %w", err)
		}
	}
	return head, nil
}

func nullJSON(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return string(v)
}

// insertChanges appends changes (Seq set) in multi-row INSERTs.
func insertChanges(ctx context.Context, tx *sql.Tx, changes []domain.Change, received time.Time) error {
	const per = 13
	const chunk = 200
	for start := 0; start < len(changes); start += chunk {
		part := changes[start:min(len(changes), start+chunk)]
		args := make([]any, 0, per*len(part))
		for _, c := range part {
			patch := []byte("{}")
			if c.Op == domain.OpUpsert {
				var err error
				if patch, err = syncstore.AppendPatchJSON(nil, c.Patch); err != nil {
					return fmt.Errorf("encode patch: %w", err)
				}
			}
			base := []byte("{}")
			if len(c.Base) > 0 {
				base = syncstore.AppendBaseJSON(nil, c.Base)
			}
			args = append(args, c.Seq, c.ID, c.Origin, c.Actor, string(c.Entity), c.EntityID, string(c.Op), c.Zone,
				string(patch), c.HLC, micros(c.At.UTC()), micros(received), string(base))
		}
		q := "INSERT INTO changes (seq, id, origin, actor, entity, entity_id, op, zone, patch, hlc, at, received_at, base) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(part)), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			if isUnique(err) {
				return domain.Errorf(domain.CodeConflict, "a pushed change was stored concurrently; retry")
			}
			return fmt.Errorf("append changes: %w", err)
		}
	}
	return nil
}

// put writes one typed row.
func (t *syncTx) put(ctx context.Context, p syncstore.Put) error {
	tx := t.tx
	switch r := p.Row.(type) {
	case domain.Note:
		return t.putNote(ctx, r, p.Old == nil)
	case domain.Ticket:
		if p.Old == nil {
			n := p.Number
			if n == 0 {
				n = syncstore.TicketNumberValue(r.Number)
			}
			if n == 0 {
				// A ticket created and deleted in one batch never got a number; it still
				// needs a unique one for its tombstone.
				nums, err := (&syncTx{tx: tx}).TakeTicketNumbers(ctx, 1)
				if err != nil {
					return err
				}
				n = nums[0]
			} else if _, err := tx.ExecContext(ctx, "UPDATE counters SET value = max(value, ?) WHERE name = 'ticket_number'", n); err != nil {
				return fmt.Errorf("bump ticket number: %w", err)
			}
			if err := tx.insertTicket(ctx, r, n); err != nil {
				return err
			}
		} else {
			old := p.Old.(domain.Ticket)
			if q, args := ticketUpdate(old, r, p.Number); q != "" {
				if _, err := t.exec(ctx, q, args...); err != nil {
					return fmt.Errorf("update ticket: %w", err)
				}
			}
			if r.DeletedAt == nil && r.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *r.AssignedTeam) {
				if err := tx.recordAssignment(ctx, r, "sync"); err != nil {
					return err
				}
			}
		}
	case domain.Team:
		if p.Old == nil {
			return tx.insertTeam(ctx, r)
		}
		skills, _ := json.Marshal(r.Skills)
		if _, err := t.exec(ctx, `UPDATE teams SET name = ?, zone = ?, description = ?, skills = ?, capacity = ?,
			shift_start = ?, shift_end = ?, home_lat = ?, home_lng = ?, status = ?, is_active = ?, tickets_completed = ?,
			customer_rating = ?, response_time = ?, completion_rate = ?, efficiency = ?, created_at = ?, updated_at = ?,
			deleted_at = ? WHERE id = ?`,
			r.Name, r.Zone, r.Description, string(skills), r.Capacity, r.ShiftStart, r.ShiftEnd, ptrArg(r.HomeLat),
			ptrArg(r.HomeLng), string(r.Status), r.IsActive, r.TicketsCompleted, r.CustomerRating, r.ResponseTime,
			r.CompletionRate, r.Efficiency, micros(r.CreatedAt), micros(r.UpdatedAt), microsPtr(r.DeletedAt), r.ID); err != nil {
			return fmt.Errorf("update team: %w", err)
		}
	case domain.Zone:
		b, _ := json.Marshal(r.Boundary)
		if p.Old == nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO zones (id, name, region, boundary, center_lat, center_lng, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Name, r.Region, string(b), r.Center.Lat, r.Center.Lng, micros(r.CreatedAt)); err != nil {
				return fmt.Errorf("insert zone: %w", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE zones SET region = ?, boundary = ?, center_lat = ?, center_lng = ?, created_at = ?
			WHERE id = ?`, r.Region, string(b), r.Center.Lat, r.Center.Lng, micros(r.CreatedAt), r.ID); err != nil {
			return fmt.Errorf("update zone: %w", err)
		}
	case domain.User:
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, role = ?, team_id = ?, is_active = ?, created_at = ?,
			updated_at = ? WHERE id = ?`, nullIfEmpty(r.Email), string(r.Role), ptrArg(r.TeamID), r.IsActive,
			micros(r.CreatedAt), micros(r.UpdatedAt), r.ID); err != nil {
			if isUnique(err) {
				return domain.Errorf(domain.CodeConflict, "email %q is taken", r.Email)
			}
			return fmt.Errorf("update user: %w", err)
		}
	default:
		return fmt.Errorf("put %T: unknown row type", p.Row)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Snapshot reads the rows of zones and the log position in one read transaction.
func (s *Store) Snapshot(ctx context.Context, zones []string) (syncstore.Snapshot, error) {
	var snap syncstore.Snapshot
	if len(zones) == 0 {
		return snap, nil
	}
	rtx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return snap, fmt.Errorf("begin snapshot: %w", err)
	}
	defer rtx.Rollback()
	if err := rtx.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'change_seq'").Scan(&snap.Cursor); err != nil {
		return snap, fmt.Errorf("snapshot cursor: %w", err)
	}
	ph, zargs := inList(zones)
	q := `SELECT ` + changeCols + ` FROM changes WHERE seq <= ? AND (
		(entity = 'ticket' AND entity_id IN (SELECT id FROM tickets WHERE zone IN (` + ph + `)))
		OR (entity = 'team' AND entity_id IN (SELECT id FROM teams WHERE zone IN (` + ph + `)))
		OR (entity = 'note' AND entity_id IN (SELECT id FROM notes WHERE zone IN (` + ph + `)))
		OR (entity = 'zone' AND entity_id IN (SELECT id FROM zones WHERE name IN (` + ph + `))))
		ORDER BY entity, entity_id, seq`
	args := append([]any{snap.Cursor}, zargs...)
	args = append(args, zargs...)
	args = append(args, zargs...)
	args = append(args, zargs...)
	rows, err := rtx.QueryContext(ctx, q, args...)
	if err != nil {
		return snap, fmt.Errorf("snapshot changes: %w", err)
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
			return snap, err
		}
		if len(group) > 0 && (group[0].Entity != ch.Entity || group[0].EntityID != ch.EntityID) {
			if err := flush(); err != nil {
				return snap, err
			}
		}
		group = append(group, ch)
	}
	if err := rows.Err(); err != nil {
		return snap, fmt.Errorf("snapshot changes: %w", err)
	}
	return snap, flush()
}

const conflictCols = `id, seq, entity, entity_id, field, kind, change_id, origin, actor, hlc, value, zone, created_at,
	resolved_at, resolved_by, resolution`

func scanConflict(row interface{ Scan(...any) error }) (syncstore.Conflict, error) {
	var (
		c        syncstore.Conflict
		value    sql.NullString
		created  int64
		resolved sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Seq, &c.Entity, &c.EntityID, &c.Field, &c.Kind, &c.Change, &c.Origin, &c.Actor, &c.HLC,
		&value, &c.Zone, &created, &resolved, &c.ResolvedBy, &c.Resolution); err != nil {
		return c, err
	}
	if value.Valid {
		c.Value = json.RawMessage(value.String)
	}
	c.CreatedAt, c.ResolvedAt = fromMicros(created), fromNullMicros(resolved)
	return c, nil
}

// ListConflicts returns conflict records newest first (by id), filtered and paged.
func (s *Store) ListConflicts(ctx context.Context, f syncstore.ConflictFilter) (domain.Page[syncstore.Conflict], error) {
	page := domain.Page[syncstore.Conflict]{Items: []syncstore.Conflict{}}
	limit, after, err := conflictPaging(f)
	if err != nil {
		return page, err
	}
	where, args := []string{"1 = 1"}, []any{}
	if f.Zone != "" {
		where, args = append(where, "zone = ?"), append(args, f.Zone)
	}
	if len(f.ScopeZones) > 0 {
		ph, za := inList(f.ScopeZones)
		where, args = append(where, "zone IN ("+ph+")"), append(args, za...)
	}
	if f.Resolved != nil {
		if *f.Resolved {
			where = append(where, "resolved_at IS NOT NULL")
		} else {
			where = append(where, "resolved_at IS NULL")
		}
	}
	if after != "" {
		where, args = append(where, "id < ?"), append(args, after)
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+conflictCols+" FROM sync_conflicts WHERE "+strings.Join(where, " AND ")+
		" ORDER BY id DESC LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return page, fmt.Errorf("list conflicts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return page, fmt.Errorf("scan conflict: %w", err)
		}
		page.Items = append(page.Items, c)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.NextCursor = conflictCursor(page.Items[limit-1].ID)
	}
	return page, nil
}

// conflictPaging checks a conflict filter's limit and cursor.
func conflictPaging(f syncstore.ConflictFilter) (limit int, after string, err error) {
	limit = f.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 500 {
		return 0, "", domain.FieldErrorf("limit", "limit must be between 1 and 500")
	}
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		var c struct {
			ID string `json:"id"`
		}
		if err != nil || json.Unmarshal(b, &c) != nil || !domain.ValidID(c.ID) {
			return 0, "", domain.FieldErrorf("cursor", "invalid cursor")
		}
		after = c.ID
	}
	return limit, after, nil
}

func conflictCursor(id string) string {
	b, _ := json.Marshal(struct {
		ID string `json:"id"`
	}{id})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ResolveConflict marks a conflict resolved; ActionApply writes the lost value back first.
func (s *Store) ResolveConflict(ctx context.Context, id string, action syncstore.Action) (syncstore.Conflict, error) {
	var out syncstore.Conflict
	err := s.write(ctx, func(tx *tx) error {
		c, err := scanConflict(tx.QueryRowContext(ctx, "SELECT "+conflictCols+" FROM sync_conflicts WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Errorf(domain.CodeNotFound, "conflict %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("get conflict: %w", err)
		}
		if err := syncstore.Resolve(ctx, &syncTx{tx: tx}, s.Clock, tx.now, tx.actor, &c, action); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sync_conflicts SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
			micros(*c.ResolvedAt), c.ResolvedBy, c.Resolution, c.ID); err != nil {
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
		c.ID, c.CreatedAt, c.RevokedAt, c.ExpiresAt = domain.NewID(tx.now), tx.now, nil, truncPtr(c.ExpiresAt)
		zones, _ := json.Marshal(c.Zones)
		_, err := tx.ExecContext(ctx, `INSERT INTO edge_credentials (id, name, zones, token_hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Name, string(zones), hash, micros(c.CreatedAt), microsPtr(c.ExpiresAt))
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

func scanEdge(row interface{ Scan(...any) error }) (syncstore.EdgeCredential, error) {
	var (
		c                syncstore.EdgeCredential
		zones            string
		created          int64
		expires, revoked sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Name, &zones, &created, &expires, &revoked); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(zones), &c.Zones); err != nil {
		return c, fmt.Errorf("decode zones of edge %s: %w", c.Name, err)
	}
	c.CreatedAt, c.ExpiresAt, c.RevokedAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(revoked)
	return c, nil
}

// ListEdgeCredentials returns every credential by name, revoked ones included.
func (s *Store) ListEdgeCredentials(ctx context.Context) ([]syncstore.EdgeCredential, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+edgeCols+" FROM edge_credentials ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list edges: %w", err)
	}
	defer rows.Close()
	out := []syncstore.EdgeCredential{}
	for rows.Next() {
		c, err := scanEdge(rows)
		if err != nil {
			return nil, fmt.Errorf("scan edge: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeEdgeCredential revokes the named credential (idempotent).
func (s *Store) RevokeEdgeCredential(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE edge_credentials SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?", micros(tx.now), name)
		if err != nil {
			return fmt.Errorf("revoke edge: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
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
	c, err := scanEdge(s.reader.QueryRowContext(ctx, "SELECT "+edgeCols+" FROM edge_credentials WHERE token_hash = ?", syncstore.HashEdgeToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "invalid edge token")
	}
	if err != nil {
		return domain.Principal{}, fmt.Errorf("authenticate edge: %w", err)
	}
	return syncstore.EdgePrincipal(c, s.now())
}
