package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

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
	saved map[rowKey]*storedCols // list columns saveRow wrote, for the row cache
	stamp bool                   // a clock reading was taken or updated: persist the clock at commit
	stmts map[string]*sql.Stmt   // the store's prepared statements, bound to this transaction
	// noDead caches whether dead_letters is empty: 0 not known yet, 1 empty, 2 not empty
	// (dead sets 2).
	noDead int
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
	// The writer connection serializes transactions already; the mutex also covers the row
	// cache update after commit, so the next transaction never reads a row older than the
	// file's.
	s.wmu.Lock()
	defer s.wmu.Unlock()
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
	if err := t.purgeInactiveLogins(ctx); err != nil {
		return err
	}
	if t.stamp {
		if err := setMeta(ctx, t, metaHLC, s.Clock.Last().String()); err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, k := range t.order {
		if t.dirty[k] {
			s.cache.put(k, t.rows[k], t.saved[k])
		}
	}
	return nil
}

// rowCache keeps the decoded merge state of recently written or read rows for the write
// path, so a sync batch or a run of local edits does not decode a row's whole history from
// JSON on every touch. It holds committed state only: write adds a transaction's rows after
// its commit, under Store.wmu, which every access holds. Rows are shared, never modified
// (merge.Apply returns new rows).
// With a row written by this store it keeps the list columns stored with it (cols, nil if not
// known), so the next save of the row can leave the indexes alone when they did not change.
type rowCache struct {
	max  int
	rows map[rowKey]cachedRow
}

type cachedRow struct {
	row  merge.Row
	cols *storedCols
}

func (c *rowCache) get(k rowKey) (merge.Row, bool) {
	e, ok := c.rows[k]
	return e.row, ok
}

// cols returns the list columns stored with the committed row k, if known.
func (c *rowCache) cols(k rowKey) (*storedCols, bool) {
	e, ok := c.rows[k]
	return e.cols, ok && e.cols != nil
}

func (c *rowCache) put(k rowKey, r merge.Row, cols *storedCols) {
	if c.max <= 0 {
		return
	}
	if len(r.Changes) == 0 { // deleted from the table
		delete(c.rows, k)
		return
	}
	if c.rows == nil {
		c.rows = make(map[rowKey]cachedRow)
	}
	if _, ok := c.rows[k]; !ok && len(c.rows) >= c.max {
		// Evict an eighth, arbitrary entries (map order): cheap, and a hot row comes back
		// on its next touch.
		n := c.max / 8
		for ek := range c.rows {
			if n <= 0 {
				break
			}
			delete(c.rows, ek)
			n--
		}
	}
	c.rows[k] = cachedRow{row: r, cols: cols}
}

func (c *rowCache) clear() { c.rows = nil }

// Hot statements of the write path, prepared once per store (Open) rather than parsed again
// for every row.
const (
	qLoadRow = "SELECT state FROM rows WHERE entity = ? AND id = ?"
	qSaveRow = `INSERT INTO rows (entity, id, zone, deleted, doc, state, status, priority_rank,
			assigned_team, due_date, created_at, updated_at, number, name)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (entity, id) DO UPDATE SET zone = excluded.zone, deleted = excluded.deleted,
			doc = excluded.doc, state = excluded.state, status = excluded.status,
			priority_rank = excluded.priority_rank, assigned_team = excluded.assigned_team,
			due_date = excluded.due_date, created_at = excluded.created_at,
			updated_at = excluded.updated_at, number = excluded.number, name = excluded.name`
	// qUpdateRowDoc rewrites a row whose other list columns did not change (saveRow).
	qUpdateRowDoc = "UPDATE rows SET doc = ?, state = ?, updated_at = ? WHERE entity = ? AND id = ?"
	qAppendOutbox = `INSERT INTO outbox (change_id, entity, entity_id, change, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?)`
	qAck = `UPDATE outbox SET status = 'acked', hub_seq = ?, last_error = '', attempts = attempts + 1, updated_at = ?
		WHERE change_id = ? AND status = 'pending'`
)

var hotQueries = []string{qLoadRow, qSaveRow, qUpdateRowDoc, qAppendOutbox, qAck}

// prepare prepares the hot statements on the writer pool. It must run while no transaction
// holds the pool's one connection.
func (s *Store) prepare(ctx context.Context) error {
	s.prepared = make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := s.writer.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare statement: %w", err)
		}
		s.prepared[q] = st
	}
	return nil
}

// stmt returns query's statement bound to t: a store-prepared one reused on the writer's
// connection (database/sql prepares it again by itself if that connection was replaced), or
// one prepared for this transaction.
func (t *tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var txst *sql.Stmt
	if st, ok := t.s.prepared[query]; ok {
		txst = t.StmtContext(ctx, st)
	} else {
		var err error
		if txst, err = t.PrepareContext(ctx, query); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = txst
	return txst, nil
}

// execPrepared runs query through its prepared statement.
func (t *tx) execPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// row returns the merge row of entity/id (zero Row if it is not stored).
func (t *tx) row(ctx context.Context, entity domain.Entity, id string) (merge.Row, error) {
	k := rowKey{entity, id}
	if r, ok := t.rows[k]; ok {
		return r, nil
	}
	if r, ok := t.s.cache.get(k); ok {
		t.rows[k] = r
		t.order = append(t.order, k)
		return r, nil
	}
	var state string
	st, err := t.stmt(ctx, qLoadRow)
	if err == nil {
		err = st.QueryRowContext(ctx, string(entity), id).Scan(&state)
	}
	var r merge.Row
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return r, fmt.Errorf("load %s %s: %w", entity, id, err)
	default:
		if r, err = decodeState([]byte(state)); err != nil {
			return r, fmt.Errorf("decode %s %s: %w", entity, id, err)
		}
		t.s.cache.put(k, r, nil) // committed state, whatever this transaction does
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
	// The state and doc are encoded into a pooled buffer, reused row after row: the driver
	// copies the values into SQLite, so nothing refers to the bytes once the statement has
	// run, and a catch-up does not leave ~10 KB of garbage per saved row.
	bp := saveBufs.Get().(*[]byte)
	defer saveBufs.Put(bp)
	state, doc, buf, err := appendRowDoc((*bp)[:0], r)
	*bp = buf[:0]
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", r.Entity, r.ID, err)
	}
	c := storedCols{columnsOf(r, doc), boolInt(r.Deleted != nil)}
	k := rowKey{r.Entity, r.ID}
	if t.saved == nil {
		t.saved = map[rowKey]*storedCols{}
	}
	t.saved[k] = &c
	// An edit that leaves every indexed column but updated_at as it was (most sync traffic:
	// a description, a note) rewrites the document and state only, so SQLite leaves the
	// other five indexes alone. The committed row's columns come from the cache; a row not
	// there as cached (removed and re-added in this transaction) is written in full.
	if old, ok := t.s.cache.cols(k); ok && old.sameBut(c) {
		res, err := t.execPrepared(ctx, qUpdateRowDoc, textOf(doc), textOf(state), c.updatedAt, string(r.Entity), r.ID)
		if err != nil {
			return fmt.Errorf("save %s %s: %w", r.Entity, r.ID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return nil
		}
	}
	_, err = t.execPrepared(ctx, qSaveRow, string(r.Entity), r.ID, c.zone, c.deleted, textOf(doc), textOf(state), c.status, c.priorityRank,
		c.assignedTeam, c.dueDate, c.createdAt, c.updatedAt, c.number, c.name)
	if err != nil {
		return fmt.Errorf("save %s %s: %w", r.Entity, r.ID, err)
	}
	return nil
}

// storedCols are the list columns of a saved row, with its deleted flag.
type storedCols struct {
	columns
	deleted int
}

// sameBut reports whether c and d differ at most in updated_at.
func (c storedCols) sameBut(d storedCols) bool {
	d.updatedAt = c.updatedAt
	return c == d
}

// saveBufs holds saveRow's encoding buffers.
var saveBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// textOf binds b as TEXT without copying it to a string first (a []byte would bind as a
// BLOB): the driver copies the value into SQLite itself, and b is never written again.
func textOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
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
	return encodeFields(r.Fields)
}

type columns struct {
	zone, status, assignedTeam, number, name string
	priorityRank                             int
	dueDate, createdAt, updatedAt            int64
}

// columnsOf extracts the list columns from a row's visible fields. It reads the few fields
// it needs from r.Fields, which the visible doc is made of, rather than decoding the whole
// doc (a ticket's is ~1.5 KB): that decode was a fifth of the CPU of encoding a row, on every
// saved row and every bootstrapped one. Field names that encoding/json would match to a
// column case-insensitively (upper case or non-ASCII letters; never in a hub-validated row)
// make it decode doc the ordinary way, so the columns are columnsOfDoc's — except that a
// malformed time (never in a row merge accepted) empties only its own column, where the doc
// decode gave up on every column after it.
func columnsOf(r merge.Row, doc []byte) columns {
	for k := range r.Fields {
		for i := 0; i < len(k); i++ {
			if b := k[i]; b >= 'A' && b <= 'Z' || b >= 0x80 {
				return columnsOfDoc(r, doc)
			}
		}
	}
	str := func(field string) string {
		v := r.Fields[field].Value
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			return string(v[1 : len(v)-1])
		}
		var s string
		if len(v) > 0 {
			_ = json.Unmarshal(v, &s) // null or another type: empty, as in a decode of doc
		}
		return s
	}
	micro := func(field string) int64 {
		v := r.Fields[field].Value
		var t time.Time
		if len(v) == 0 || t.UnmarshalJSON(v) != nil {
			return 0
		}
		return micros(t)
	}
	c := columns{status: str("status"), number: str("ticket_number"),
		priorityRank: max(domain.Priority(str("priority")).Rank(), 0),
		dueDate:      micro("due_date"), createdAt: micro("created_at"), updatedAt: micro("updated_at")}
	c.fill(r, str("zone"), str("name"), str("username"), str("assigned_team"), str("team_id"), str("ticket_id"))
	return c
}

// columnsOfDoc is columnsOf by decoding the visible doc.
func columnsOfDoc(r merge.Row, doc []byte) columns {
	var c columns
	var v struct {
		Zone         string          `json:"zone"`
		Name         string          `json:"name"`
		Username     string          `json:"username"`
		Status       string          `json:"status"`
		Priority     domain.Priority `json:"priority"`
		AssignedTeam *string         `json:"assigned_team"`
		TeamID       *string         `json:"team_id"`
		TicketID     string          `json:"ticket_id"`
		Number       string          `json:"ticket_number"`
		DueDate      time.Time       `json:"due_date"`
		CreatedAt    time.Time       `json:"created_at"`
		UpdatedAt    time.Time       `json:"updated_at"`
	}
	_ = json.Unmarshal(doc, &v) // a field of an unexpected type leaves its column empty
	c.status, c.number = v.Status, v.Number
	c.priorityRank = max(v.Priority.Rank(), 0)
	c.dueDate, c.createdAt, c.updatedAt = micros(v.DueDate), micros(v.CreatedAt), micros(v.UpdatedAt)
	var team, teamID string
	if v.AssignedTeam != nil {
		team = *v.AssignedTeam
	}
	if v.TeamID != nil {
		teamID = *v.TeamID
	}
	c.fill(r, v.Zone, v.Name, v.Username, team, teamID, v.TicketID)
	return c
}

// fill sets the entity-dependent columns from the row's field values.
func (c *columns) fill(r merge.Row, zone, name, username, assignedTeam, teamID, ticketID string) {
	switch r.Entity {
	case domain.EntityTicket:
		c.zone, c.assignedTeam = zone, assignedTeam
	case domain.EntityTeam:
		c.zone, c.name = zone, name
	case domain.EntityZone:
		c.zone, c.name = name, name
	case domain.EntityUser:
		c.name, c.assignedTeam = username, teamID
	case domain.EntityNote: // notes.go: a note's ticket in assigned_team
		c.zone, c.assignedTeam = zone, ticketID
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
	r, err := decodeState([]byte(state))
	if err != nil {
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
