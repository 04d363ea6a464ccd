package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// tx is one write transaction on the writer connection, with the time it started and the
// rows it has loaded (so a batch that touches one row twice reads it once).
type tx struct {
	*sql.Tx
	s     *Store
	now   time.Time
	rows  map[rowKey]merge.Row
	dirty map[rowKey]bool
	order []rowKey
	stamp bool // a clock reading was taken or updated: persist the clock at commit
}

type rowKey struct {
	entity domain.Entity
	id     string
}

// write runs fn in one write transaction and commits the rows it changed, with the clock.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	if s.writer == nil {
		return domain.Errorf(domain.CodeUnavailable, "edge store is closed")
	}
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &tx{Tx: sqlTx, s: s, now: s.now(), rows: map[rowKey]merge.Row{}, dirty: map[rowKey]bool{}}
	defer sqlTx.Rollback()
	if err := fn(t); err != nil {
		return err
	}
	for _, k := range t.order {
		if t.dirty[k] {
			if err := t.saveRow(ctx, t.rows[k]); err != nil {
				return err
			}
		}
	}
	if t.stamp {
		if err := setMeta(ctx, t, metaHLC, s.Clock.Last().String()); err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// row returns the merge row of entity/id (zero Row if it is not stored).
func (t *tx) row(ctx context.Context, entity domain.Entity, id string) (merge.Row, error) {
	k := rowKey{entity, id}
	if r, ok := t.rows[k]; ok {
		return r, nil
	}
	var state string
	err := t.QueryRowContext(ctx, "SELECT state FROM rows WHERE entity = ? AND id = ?", string(entity), id).Scan(&state)
	var r merge.Row
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return r, fmt.Errorf("load %s %s: %w", entity, id, err)
	default:
		if err := json.Unmarshal([]byte(state), &r); err != nil {
			return r, fmt.Errorf("decode %s %s: %w", entity, id, err)
		}
	}
	t.rows[k] = r
	t.order = append(t.order, k)
	return r, nil
}

// put replaces the row in the transaction's cache; it is written at commit.
func (t *tx) put(r merge.Row) {
	k := rowKey{r.Entity, r.ID}
	if _, ok := t.rows[k]; !ok {
		t.order = append(t.order, k)
	}
	t.rows[k] = r
	t.dirty[k] = true
}

// saveRow writes a row's state, visible document and list columns; a row with no changes
// left (its only changes were rejected) is removed.
func (t *tx) saveRow(ctx context.Context, r merge.Row) error {
	if len(r.Changes) == 0 {
		_, err := t.ExecContext(ctx, "DELETE FROM rows WHERE entity = ? AND id = ?", string(r.Entity), r.ID)
		if err != nil {
			return fmt.Errorf("delete %s %s: %w", r.Entity, r.ID, err)
		}
		return nil
	}
	state, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", r.Entity, r.ID, err)
	}
	doc := visibleDoc(r)
	c := columnsOf(r, doc)
	_, err = t.ExecContext(ctx, `INSERT INTO rows (entity, id, zone, deleted, doc, state, status, priority_rank,
			assigned_team, due_date, created_at, updated_at, number, name)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (entity, id) DO UPDATE SET zone = excluded.zone, deleted = excluded.deleted,
			doc = excluded.doc, state = excluded.state, status = excluded.status,
			priority_rank = excluded.priority_rank, assigned_team = excluded.assigned_team,
			due_date = excluded.due_date, created_at = excluded.created_at,
			updated_at = excluded.updated_at, number = excluded.number, name = excluded.name`,
		string(r.Entity), r.ID, c.zone, boolInt(r.Deleted != nil), string(doc), string(state), c.status, c.priorityRank,
		c.assignedTeam, c.dueDate, c.createdAt, c.updatedAt, c.number, c.name)
	if err != nil {
		return fmt.Errorf("save %s %s: %w", r.Entity, r.ID, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// visibleDoc is the row's visible fields as one JSON object: the entity's API JSON, built
// only from fields that some change carried.
func visibleDoc(r merge.Row) []byte {
	m := make(map[string]json.RawMessage, len(r.Fields))
	for k, f := range r.Fields {
		m[k] = f.Value
	}
	b, _ := json.Marshal(m) // values are canonical JSON already
	return b
}

type columns struct {
	zone, status, assignedTeam, number, name string
	priorityRank                             int
	dueDate, createdAt, updatedAt            int64
}

// columnsOf extracts the list columns from a row's visible fields.
func columnsOf(r merge.Row, doc []byte) columns {
	var c columns
	var v struct {
		Zone         string          `json:"zone"`
		Name         string          `json:"name"`
		Username     string          `json:"username"`
		Status       string          `json:"status"`
		Priority     domain.Priority `json:"priority"`
		AssignedTeam *string         `json:"assigned_team"`
		TeamID       *string         `json:"team_id"`
		Number       string          `json:"ticket_number"`
		DueDate      time.Time       `json:"due_date"`
		CreatedAt    time.Time       `json:"created_at"`
		UpdatedAt    time.Time       `json:"updated_at"`
	}
	_ = json.Unmarshal(doc, &v) // a field of an unexpected type leaves its column empty
	c.status, c.number = v.Status, v.Number
	c.priorityRank = max(v.Priority.Rank(), 0)
	c.dueDate, c.createdAt, c.updatedAt = micros(v.DueDate), micros(v.CreatedAt), micros(v.UpdatedAt)
	switch r.Entity {
	case domain.EntityTicket:
		c.zone = v.Zone
		if v.AssignedTeam != nil {
			c.assignedTeam = *v.AssignedTeam
		}
	case domain.EntityTeam:
		c.zone, c.name = v.Zone, v.Name
	case domain.EntityZone:
		c.zone, c.name = v.Name, v.Name
	case domain.EntityUser:
		c.name = v.Username
		if v.TeamID != nil {
			c.assignedTeam = *v.TeamID
		}
	}
	if c.zone == "" {
		// Users (and rows whose fields lack a zone) take the scope zone of their latest change.
		for i := len(r.Changes) - 1; i >= 0; i-- {
			if z := r.Changes[i].Zone; z != "" {
				c.zone = z
				break
			}
		}
	}
	return c
}

// decodeRow decodes a row's visible fields into v (a *domain.Ticket, *domain.Team, …).
func decodeRow(r merge.Row, v any) error {
	if err := json.Unmarshal(visibleDoc(r), v); err != nil {
		return fmt.Errorf("decode %s %s: %w", r.Entity, r.ID, err)
	}
	return nil
}

// local makes a change on this node from the entity's state before (nil for a create) and
// after, applies it to the row with merge, and appends it to the outbox, all in tx. An update
// that changes nothing writes nothing and returns ok false. The change's Base names, for every
// patched field (and a ticket's status), the clock of the value this node held, so merge can
// tell this informed write from a concurrent one.
func (t *tx) local(ctx context.Context, entity domain.Entity, id, zone string, op domain.Op, before, after any) (merge.Row, bool, error) {
	row, err := t.row(ctx, entity, id)
	if err != nil {
		return row, false, err
	}
	var patch map[string]json.RawMessage
	if op == domain.OpUpsert {
		if before == nil {
			patch, err = domain.Diff(nil, after)
		} else {
			patch, err = domain.Diff(before, after)
		}
		if err != nil {
			return row, false, fmt.Errorf("diff %s %s: %w", entity, id, err)
		}
		delete(patch, "deleted_at")
		if len(patch) == 0 {
			return row, false, nil
		}
	}
	ch := domain.Change{
		ID:       domain.NewID(t.now),
		Origin:   t.s.Node,
		Actor:    actor(ctx),
		Entity:   entity,
		EntityID: id,
		Op:       op,
		Zone:     zone,
		Patch:    patch,
		At:       t.now,
	}
	base := map[string]string{}
	for f := range patch {
		if fv, ok := row.Fields[f]; ok {
			base[f] = fv.Version.HLC
		}
	}
	if entity == domain.EntityTicket {
		if fv, ok := row.Fields["status"]; ok {
			base["status"] = fv.Version.HLC
		}
	}
	if len(base) > 0 {
		ch.Base = base
	}
	ch.HLC = t.s.Clock.Now().String()
	t.stamp = true
	next, res, err := merge.Apply(row, ch)
	if err != nil {
		return row, false, err
	}
	if len(res.Conflicts) > 0 {
		// The domain rules ran on the visible state, so merge should accept the change; if it
		// does not (a rule only merge knows), refuse the write rather than queue a change
		// that would not show.
		c := res.Conflicts[0]
		return row, false, domain.Errorf(domain.CodeConflict, "%s %s: field %s cannot be changed (%s)", entity, id, c.Field, c.Kind)
	}
	t.put(next)
	if err := t.appendOutbox(ctx, ch); err != nil {
		return row, false, err
	}
	return next, true, nil
}

func actor(ctx context.Context) string {
	if p, ok := domain.PrincipalFrom(ctx); ok {
		return p.Actor()
	}
	return "system"
}

// observe moves the clock past a change received from the hub (its clock, or the clock merge
// derives for a change without one).
func (t *tx) observe(c domain.Change) {
	v, err := merge.VersionOf(c)
	if err != nil {
		return
	}
	ts, err := hlc.Parse(v.HLC)
	if err != nil {
		return
	}
	if _, err := t.s.Clock.Update(ts); err == nil {
		t.stamp = true
	}
}

// getRow reads a stored row's merge state through the reader pool.
func (s *Store) getRow(ctx context.Context, entity domain.Entity, id string) (merge.Row, error) {
	var state string
	err := s.reader.QueryRowContext(ctx, "SELECT state FROM rows WHERE entity = ? AND id = ?", string(entity), id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return merge.Row{}, domain.Errorf(domain.CodeNotFound, "%s %q not found", entity, id)
	}
	if err != nil {
		return merge.Row{}, fmt.Errorf("load %s %s: %w", entity, id, err)
	}
	var r merge.Row
	if err := json.Unmarshal([]byte(state), &r); err != nil {
		return r, fmt.Errorf("decode %s %s: %w", entity, id, err)
	}
	return r, nil
}

// Row returns the merge state of a stored row (for tests and diagnostics).
func (s *Store) Row(ctx context.Context, entity domain.Entity, id string) (merge.Row, error) {
	return s.getRow(ctx, entity, id)
}

// withoutChange returns r without the change id, rebuilt; ok is false if r did not hold it.
func withoutChange(r merge.Row, id string) (merge.Row, bool, error) {
	i := slices.IndexFunc(r.Changes, func(c domain.Change) bool { return c.ID == id })
	if i < 0 {
		return r, false, nil
	}
	r.Changes = slices.Delete(slices.Clone(r.Changes), i, i+1)
	next, err := r.Rebuild()
	return next, true, err
}
