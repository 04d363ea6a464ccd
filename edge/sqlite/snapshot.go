package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/snapshot"
)

// Bootstrap from a snapshot (sync/PROTOCOL.md §9.4, §9.5). A new or far-behind edge loads the
// hub's snapshot of its scope into a staging table, rows_next, beside the rows it serves:
// every verified chunk commits with the download's checkpoint (meta "bootstrap"), so a cut
// download resumes where it stopped, also after a restart, and reads keep answering from the
// old rows the whole time. SwitchSnapshot then replaces rows with rows_next in one
// transaction, with the snapshot's cursor and zones, and applies this edge's unsynced
// changes on top of the new rows, still pending: readers see the old state or the new one,
// never a mixture, and no local edit is lost.

var (
	_ client.SnapshotStore    = (*Store)(nil)
	_ client.SnapshotPreparer = (*Store)(nil)
)

// metaBootstrap holds the client's state of a bootstrap in progress (opaque JSON); absent
// when none is.
const metaBootstrap = "bootstrap"

// stagingTable is where a snapshot is loaded before the switch.
const stagingTable = "rows_next"

// While a snapshot is staged the writer checkpoints the WAL every 8192 pages (128 MiB)
// rather than every walCheckpointPages: a checkpoint ends in two fsyncs, and a bootstrap
// writing GBs stalled on ~120 of them per 300k rows at SQLite's default of 1000 pages, about
// a tenth of its time. The WAL file grows to ~128 MiB meanwhile. The switch, or a discard,
// sets the default back.
var (
	stagingCheckpoint = checkpointEvery(8192)
	defaultCheckpoint = checkpointEvery(walCheckpointPages)
)

// checkpointEvery is the statement that makes the writer checkpoint every pages WAL pages.
func checkpointEvery(pages int) string { return fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", pages) }

// rowsTableDDL returns the schema's CREATE TABLE statement of the rows table, so the staged
// table can never drift from it.
func rowsTableDDL() string {
	for _, st := range strings.Split(schema, ";") {
		st = strings.TrimSpace(stripComments(st))
		if strings.HasPrefix(st, "CREATE TABLE IF NOT EXISTS rows (") {
			return st
		}
	}
	panic("edge schema has no rows table")
}

// rowsIndexes are the rows table's list indexes, by name and columns.
//
// A staged snapshot table carries them from its first chunk, so SQLite maintains them as
// the rows go in, while the writer would otherwise wait on the next encoded rows; building
// them at the switch instead took a quarter of a bootstrap (8 s of 32 for a million rows),
// all of it inside the switch transaction, with every local write waiting. Index names are
// global in SQLite and the served table's indexes exist while the staged one's are made, so
// each index has two names, its own and altIndexSuffix added, and a staged table takes
// whichever its served table does not use; a table holding either counts as indexed.
//
// rows_name holds only the entities that have a name: tickets and notes, nearly every row,
// would all sit under an empty one. SQLite uses a partial index for a query whose WHERE has
// one of the index's OR terms, as every name lookup's entity = 'team' (or 'zone', 'user')
// does.
var rowsIndexes = []struct{ name, cols string }{
	{"rows_zone", "entity, zone"},
	{"rows_created", "entity, created_at, id"},
	{"rows_updated", "entity, updated_at, id"},
	{"rows_due", "entity, due_date, id"},
	{"rows_team", "entity, assigned_team"},
	{"rows_name", "entity, name) WHERE (entity = 'team' OR entity = 'zone' OR entity = 'user'"},
}

const altIndexSuffix = "_b"

// ensureRowsIndexes creates the rowsIndexes table lacks (the rows table or the staging one),
// each under whichever of its two names is free.
func ensureRowsIndexes(ctx context.Context, q queryer, table string) error {
	rs, err := q.QueryContext(ctx, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
	if err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	owner := map[string]string{} // index name → its table
	for rs.Next() {
		var name, tbl string
		if err := rs.Scan(&name, &tbl); err != nil {
			rs.Close()
			return fmt.Errorf("list indexes: %w", err)
		}
		owner[name] = tbl
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	for _, ix := range rowsIndexes {
		alt := ix.name + altIndexSuffix
		if owner[ix.name] == table || owner[alt] == table {
			continue
		}
		name := ix.name
		if _, taken := owner[name]; taken {
			name = alt
		}
		if _, taken := owner[name]; taken {
			return fmt.Errorf("index names %s and %s are both taken by other tables", ix.name, alt)
		}
		if _, err := q.ExecContext(ctx, fmt.Sprintf("CREATE INDEX %s ON %s (%s)", name, table, ix.cols)); err != nil {
			return fmt.Errorf("index %s: %w", table, err)
		}
		owner[name] = table
	}
	return nil
}

func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// BootstrapState returns the state stored with the last staged chunk, nil when no bootstrap
// is in progress (client.SnapshotStore).
func (s *Store) BootstrapState(ctx context.Context) ([]byte, error) {
	v, err := getMeta(ctx, s.reader, metaBootstrap)
	if err != nil || v == "" {
		return nil, err
	}
	return []byte(v), nil
}

// StageSnapshot stores rows (verified snapshot rows, in key order) in the staging table and
// state, in one transaction; reset first empties the staging table (a new download). The
// rows served are not touched. The clock moves past every change's clock, as for pulled
// changes.
func (s *Store) StageSnapshot(ctx context.Context, reset bool, rows []snapshot.Row, state []byte) error {
	stage, cancel := s.PrepareSnapshot(rows)
	defer cancel()
	return stage(ctx, reset, state)
}

// PrepareSnapshot starts encoding rows on every core and returns the function that stages
// them (as StageSnapshot) and the one that stops the encoding (client.SnapshotPreparer), so
// a bootstrap encodes the next chunk while this one's inserts run.
func (s *Store) PrepareSnapshot(rows []snapshot.Row) (stage func(ctx context.Context, reset bool, state []byte) error, cancel func()) {
	enc := encodeStaged(rows)
	return func(ctx context.Context, reset bool, state []byte) error {
		return s.stagePrepared(ctx, reset, rows, enc, state)
	}, enc.close
}

// stagePrepared is StageSnapshot for rows being encoded by enc.
func (s *Store) stagePrepared(ctx context.Context, reset bool, rows []snapshot.Row, enc *stagedRows, state []byte) error {
	if s.writer == nil {
		return domain.Errorf(domain.CodeUnavailable, "edge store is closed")
	}
	// Encoding started before the write lock is taken (local writes go on meanwhile) and runs
	// ahead of the inserts below on the other cores.
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.writer.ExecContext(ctx, stagingCheckpoint); err != nil {
		return fmt.Errorf("checkpoint interval for staging: %w", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin snapshot chunk: %w", err)
	}
	defer tx.Rollback()
	table := rowsTableDDL()
	if reset {
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+stagingTable); err != nil {
			return fmt.Errorf("drop staged snapshot: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, strings.Replace(table, " rows (", " "+stagingTable+" (", 1)); err != nil {
		return fmt.Errorf("create snapshot staging table: %w", err)
	}
	if err := ensureRowsIndexes(ctx, tx, stagingTable); err != nil {
		return err
	}
	if len(rows) > 0 {
		ins, err := tx.PrepareContext(ctx, strings.Replace(qSaveRow, "INTO rows (", "INTO "+stagingTable+" (", 1))
		if err != nil {
			return fmt.Errorf("prepare staged row: %w", err)
		}
		defer ins.Close()
		var top hlc.Timestamp
		for i := range rows {
			sr := enc.row(i)
			if sr.err != nil {
				return sr.err
			}
			if top.Compare(sr.top) < 0 {
				top = sr.top
			}
			if _, err := ins.ExecContext(ctx, sr.args...); err != nil {
				return fmt.Errorf("stage %s: %w", rows[i].Key(), err)
			}
		}
		if top.Wall != 0 {
			if _, err := s.Clock.Update(top); err == nil {
				if err := setMeta(ctx, tx, metaHLC, s.Clock.Last().String()); err != nil {
					return err
				}
			}
		}
	}
	if err := setMeta(ctx, tx, metaBootstrap, string(state)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit snapshot chunk: %w", err)
	}
	return nil
}

// stagedRow is a snapshot row ready to insert: the arguments of qSaveRow and the latest
// clock among its changes.
type stagedRow struct {
	args []any
	top  hlc.Timestamp
	err  error
}

// stagedRows are rows being encoded for the staging table, part after part in order, by
// one worker per core: the inserts take each part as soon as it is ready, so encoding the
// next rows overlaps inserting the previous ones.
type stagedRows struct {
	rows  []stagedRow
	ready []chan struct{} // ready[k] is closed once part k (rows k*stagePart…) is encoded
	stop  atomic.Bool
	wg    sync.WaitGroup
}

// stagePart is how many rows a worker encodes at a time.
const stagePart = 64

// encodeStaged starts replaying and encoding rows on every core: the rows' states, visible
// documents and list columns, exactly as saveRow would store them. Call close when done.
func encodeStaged(rows []snapshot.Row) *stagedRows {
	parts := (len(rows) + stagePart - 1) / stagePart
	e := &stagedRows{rows: make([]stagedRow, len(rows)), ready: make([]chan struct{}, parts)}
	for k := range e.ready {
		e.ready[k] = make(chan struct{})
	}
	var next atomic.Int64
	for range min(runtime.GOMAXPROCS(0), parts) {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			// The rows' state and doc bytes go into a few large buffers, not two allocations
			// (and two copies to strings) per row; the statement binds them in place.
			var buf []byte
			for !e.stop.Load() {
				k := int(next.Add(1) - 1)
				if k >= parts {
					return
				}
				for i := k * stagePart; i < min((k+1)*stagePart, len(rows)); i++ {
					if cap(buf)-len(buf) < 16<<10 {
						buf = make([]byte, 0, 1<<20)
					}
					e.rows[i], buf = encodeStagedRow(rows[i], buf)
				}
				close(e.ready[k])
			}
		}()
	}
	return e
}

// row returns row i once it is encoded.
func (e *stagedRows) row(i int) *stagedRow {
	<-e.ready[i/stagePart]
	return &e.rows[i]
}

// close stops the workers (after the part each is on) and waits for them.
func (e *stagedRows) close() {
	e.stop.Store(true)
	e.wg.Wait()
}

// encodeStagedRow encodes sr, appending its state and doc to buf (bound as TEXT in place:
// buf's bytes are never written again).
func encodeStagedRow(sr snapshot.Row, buf []byte) (stagedRow, []byte) {
	r, err := merge.Replay(sr.Changes)
	if err != nil {
		return stagedRow{err: fmt.Errorf("replay snapshot row %s: %w", sr.Key(), err)}, buf
	}
	var top hlc.Timestamp
	for _, c := range r.Changes {
		if ts, err := hlc.Parse(c.HLC); err == nil && top.Compare(ts) < 0 {
			top = ts
		}
	}
	state, doc, buf, err := appendRowDoc(buf, r)
	if err != nil {
		return stagedRow{err: fmt.Errorf("encode %s: %w", sr.Key(), err)}, buf
	}
	c := columnsOf(r, doc)
	return stagedRow{top: top, args: []any{string(r.Entity), r.ID, c.zone, boolInt(r.Deleted != nil), textOf(doc), textOf(state), c.status,
		c.priorityRank, c.assignedTeam, c.dueDate, c.createdAt, c.updatedAt, c.number, c.name}}, buf
}

// SwitchSnapshot makes the staged snapshot the edge's state, in one transaction: the staged
// table, indexed as it was staged, replaces rows, zones become the scope and cursor
// the pull cursor, and the bootstrap state is cleared. This edge's changes the snapshot does
// not hold yet are then applied on top, so no local edit is lost: pending ones stay pending
// (and are pushed as usual; one the snapshot already holds is answered duplicate then), and
// ones acknowledged after the snapshot's cursor are applied as the hub's (the log tail brings
// them again as duplicates). Readers see the old state until the commit, the new one after.
func (s *Store) SwitchSnapshot(ctx context.Context, zones []string, cursor int64) error {
	// The switch's commit checkpoints what staging left in the WAL, within the bootstrap.
	if err := s.pragmas(ctx, defaultCheckpoint); err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		var staged int
		if err := t.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", stagingTable).Scan(&staged); err != nil {
			return fmt.Errorf("find staged snapshot: %w", err)
		}
		if staged == 0 {
			return domain.Errorf(domain.CodeInvalid, "no snapshot is staged")
		}
		t.s.cache.clear() // empty is always safe, whether this commits or not
		for _, q := range []string{"DROP TABLE rows", "ALTER TABLE " + stagingTable + " RENAME TO rows"} {
			if _, err := t.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("switch to the snapshot: %w", err)
			}
		}
		// The staged table has its indexes already (one staged by an older version may not:
		// they are built now).
		if err := ensureRowsIndexes(ctx, t, "rows"); err != nil {
			return fmt.Errorf("index the snapshot: %w", err)
		}
		zs, _ := json.Marshal(slices.Sorted(slices.Values(zones)))
		if err := setMeta(ctx, t, metaScope, string(zs)); err != nil {
			return err
		}
		if err := setMeta(ctx, t, metaCursor, strconv.FormatInt(cursor, 10)); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, "DELETE FROM meta WHERE key = ?", metaBootstrap); err != nil {
			return fmt.Errorf("clear bootstrap state: %w", err)
		}
		return t.carryForward(ctx, cursor)
	})
}

// pragmas runs connection settings on the writer, between write transactions.
func (s *Store) pragmas(ctx context.Context, qs ...string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.writer == nil {
		return domain.Errorf(domain.CodeUnavailable, "edge store is closed")
	}
	for _, q := range qs {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// carryForward applies this edge's changes the new rows may lack: pending ones (kept pending,
// or acknowledged when the snapshot holds them) and acknowledged ones after cursor.
func (t *tx) carryForward(ctx context.Context, cursor int64) error {
	rows, err := t.QueryContext(ctx, `SELECT change, status, hub_seq FROM outbox
		WHERE status = 'pending' OR (status = 'acked' AND hub_seq > ?) ORDER BY seq`, cursor)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	type own struct {
		c      domain.Change
		status string
	}
	var mine []own
	for rows.Next() {
		var b, status string
		var seq int64
		if err := rows.Scan(&b, &status, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("scan outbox: %w", err)
		}
		var c domain.Change
		if err := json.Unmarshal([]byte(b), &c); err != nil {
			rows.Close()
			return fmt.Errorf("decode outbox change: %w", err)
		}
		if status == StatusAcked {
			c.Seq = seq
		}
		mine = append(mine, own{c, status})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	for _, o := range mine {
		row, err := t.row(ctx, o.c.Entity, o.c.EntityID)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(row.Changes, func(c domain.Change) bool { return c.ID == o.c.ID }); i >= 0 {
			continue // in the snapshot already
		}
		next, _, err := merge.Apply(row, o.c)
		if err != nil {
			return fmt.Errorf("carry change %s forward: %w", o.c.ID, err)
		}
		t.put(next)
	}
	return nil
}

// DiscardSnapshot drops a staged snapshot and the bootstrap state (a download abandoned for
// good); the rows served are not touched.
func (s *Store) DiscardSnapshot(ctx context.Context) error {
	if err := s.pragmas(ctx, defaultCheckpoint); err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		if _, err := t.ExecContext(ctx, "DROP TABLE IF EXISTS "+stagingTable); err != nil {
			return fmt.Errorf("drop staged snapshot: %w", err)
		}
		if _, err := t.ExecContext(ctx, "DELETE FROM meta WHERE key = ?", metaBootstrap); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("clear bootstrap state: %w", err)
		}
		return nil
	})
}
