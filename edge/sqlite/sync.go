package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/fastjson"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

// Outbox statuses.
const (
	StatusPending = "pending"
	StatusAcked   = "acked"
	StatusDead    = "dead"
)

func (t *tx) appendOutbox(ctx context.Context, ch domain.Change) error {
	b, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("encode change %s: %w", ch.ID, err)
	}
	_, err = t.execPrepared(ctx, qAppendOutbox, ch.ID, string(ch.Entity), ch.EntityID, string(b), micros(t.now), micros(t.now))
	if err != nil {
		return fmt.Errorf("append change %s to outbox: %w", ch.ID, err)
	}
	return nil
}

// Pending returns up to limit changes the hub has not acknowledged, oldest first (the order
// they were made in, which is the order the hub must receive them).
func (s *Store) Pending(ctx context.Context, limit int) ([]domain.Change, error) {
	return s.pending(ctx, "SELECT change FROM outbox WHERE status = 'pending' ORDER BY seq LIMIT ?", limitOr500(limit))
}

// PendingAfter is Pending for the changes made after the change with id after; none if that
// change is not in the outbox.
func (s *Store) PendingAfter(ctx context.Context, after string, limit int) ([]domain.Change, error) {
	return s.pending(ctx, `SELECT change FROM outbox WHERE status = 'pending'
		AND seq > (SELECT seq FROM outbox WHERE change_id = ?) ORDER BY seq LIMIT ?`, after, limitOr500(limit))
}

func limitOr500(limit int) int {
	if limit <= 0 {
		return 500
	}
	return limit
}

// pending reads the outbox changes query selects.
func (s *Store) pending(ctx context.Context, query string, args ...any) ([]domain.Change, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []domain.Change
	names := map[string]string{} // origins, actors, field names: one string each per read
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("scan outbox: %w", err)
		}
		ch, err := decodeOutboxChange(b, names)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// decodeOutboxChange decodes an outbox change (json.Marshal's encoding of it) in one pass
// when it can (fastjson: a push reads a thousand of them), or with encoding/json; either
// way the result is encoding/json's. Patch values point into b, which must not be reused.
func decodeOutboxChange(b []byte, names map[string]string) (domain.Change, error) {
	var ch domain.Change
	d := fastjson.Decoder{B: b, Names: names}
	if d.Change(&ch) && d.Done() {
		return ch, nil
	}
	ch = domain.Change{}
	if err := json.Unmarshal(b, &ch); err != nil {
		return ch, fmt.Errorf("decode outbox change: %w", err)
	}
	return ch, nil
}

// RecordPush records the hub's answer to a push of batch, in one transaction: accepted and
// duplicate changes are acknowledged with their hub seq; a clamped change is acknowledged and
// its row takes the hub's clock for it; a rejected change goes to the dead-letter list with
// the hub's reason and its effect is removed from its row. The clock moves past the hub's.
// Results for ids that are not pending (already recorded) change nothing.
func (s *Store) RecordPush(ctx context.Context, batch []domain.Change, res *wire.PushResponse) error {
	byID := make(map[string]domain.Change, len(batch))
	for _, c := range batch {
		byID[c.ID] = c
	}
	return s.write(ctx, func(t *tx) error {
		if res.HLC != "" {
			if ts, err := hlc.Parse(res.HLC); err == nil {
				if _, err := t.s.Clock.Update(ts); err == nil {
					t.stamp = true
				}
			}
		}
		// Accepted and duplicate changes are acknowledged together at the end (ackAll): one
		// statement per 500 instead of one per change. A rejected change's dead-lettering
		// reads the outbox, so the acknowledgements gathered before it are written first.
		var acks []ackOf
		for _, r := range res.Results {
			c, ok := byID[r.ID]
			if !ok {
				continue
			}
			switch r.Status {
			case wire.Accepted, wire.Duplicate:
				acks = append(acks, ackOf{r.ID, r.Seq})
			case wire.Clamped:
				if err := t.ack(ctx, r.ID, r.Seq); err != nil {
					return err
				}
				c.HLC = r.HLC
				row, err := t.row(ctx, c.Entity, c.EntityID)
				if err != nil {
					return err
				}
				next, _, err := merge.Apply(row, c)
				if err != nil {
					return fmt.Errorf("apply clamped change %s: %w", c.ID, err)
				}
				t.put(next)
			case wire.Rejected:
				if err := t.ackAll(ctx, acks); err != nil {
					return err
				}
				acks = acks[:0]
				if err := t.dead(ctx, c, r.Code, r.Error); err != nil {
					return err
				}
			}
		}
		return t.ackAll(ctx, acks)
	})
}

// DeadLetter moves one pending change to the dead-letter list with a reason and removes its
// effect from its row. The push loop uses it when the hub refuses a batch holding only this
// change as a whole (400, 403, 413): the change can never be accepted as it is, and the
// changes behind it must not wait for it.
func (s *Store) DeadLetter(ctx context.Context, c domain.Change, code domain.Code, reason string) error {
	return s.write(ctx, func(t *tx) error { return t.dead(ctx, c, code, reason) })
}

// PushFailed counts a failed attempt for the pending changes of a batch, with the error, for
// the outbox view and health.
func (s *Store) PushFailed(ctx context.Context, batch []domain.Change, reason string) error {
	return s.write(ctx, func(t *tx) error {
		for _, c := range batch {
			if _, err := t.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ?
				WHERE change_id = ? AND status = 'pending'`, truncate(reason, 500), micros(t.now), c.ID); err != nil {
				return fmt.Errorf("record push failure: %w", err)
			}
		}
		return nil
	})
}

func (t *tx) ack(ctx context.Context, id string, seq int64) error {
	_, err := t.execPrepared(ctx, qAck, seq, micros(t.now), id)
	if err != nil {
		return fmt.Errorf("ack change %s: %w", id, err)
	}
	return nil
}

// ackOf is a change to acknowledge and its hub seq.
type ackOf struct {
	id  string
	seq int64
}

// ackBatch is the most acknowledgements per ackAll statement (two variables each).
const ackBatch = 500

// ackAll does what ack does for each of acks, in one UPDATE per ackBatch changes.
func (t *tx) ackAll(ctx context.Context, acks []ackOf) error {
	if len(acks) == 1 {
		return t.ack(ctx, acks[0].id, acks[0].seq)
	}
	for chunk := range slices.Chunk(acks, ackBatch) {
		q := make([]byte, 0, 200+8*len(chunk))
		q = append(q, "UPDATE outbox SET status = 'acked', hub_seq = v.column2, last_error = '', attempts = attempts + 1, updated_at = ? FROM (VALUES "...)
		args := make([]any, 0, 1+2*len(chunk))
		args = append(args, micros(t.now))
		for i, a := range chunk {
			if i > 0 {
				q = append(q, ", "...)
			}
			q = append(q, "(?, ?)"...)
			args = append(args, a.id, a.seq)
		}
		q = append(q, ") AS v WHERE outbox.change_id = v.column1 AND outbox.status = 'pending'"...)
		if _, err := t.ExecContext(ctx, string(q), args...); err != nil {
			return fmt.Errorf("ack %d changes: %w", len(chunk), err)
		}
	}
	return nil
}

func (t *tx) dead(ctx context.Context, c domain.Change, code domain.Code, reason string) error {
	var seq int64
	err := t.QueryRowContext(ctx, "SELECT seq FROM outbox WHERE change_id = ? AND status = 'pending'", c.ID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // already acknowledged or dead
	}
	if err != nil {
		return fmt.Errorf("find outbox change %s: %w", c.ID, err)
	}
	if code == "" {
		code = domain.CodeInvalid
	}
	reason = truncate(reason, 1000)
	if _, err := t.ExecContext(ctx, `UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE seq = ?`,
		reason, micros(t.now), seq); err != nil {
		return fmt.Errorf("mark change %s dead: %w", c.ID, err)
	}
	b, _ := json.Marshal(c)
	if _, err := t.ExecContext(ctx, `INSERT INTO dead_letters (change_id, outbox_seq, change, code, reason, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (change_id) DO NOTHING`, c.ID, seq, string(b), string(code), reason, micros(t.now)); err != nil {
		return fmt.Errorf("dead-letter change %s: %w", c.ID, err)
	}
	t.noDead = 2
	row, err := t.row(ctx, c.Entity, c.EntityID)
	if err != nil {
		return err
	}
	next, ok, err := withoutChange(row, c.ID)
	if err != nil {
		return fmt.Errorf("remove change %s from its row: %w", c.ID, err)
	}
	if ok {
		t.put(next)
	}
	return nil
}

// Cursor returns the hub log position this replica has applied through (0 for a new edge).
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	v, err := getMeta(ctx, s.reader, metaCursor)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stored cursor %q: %w", v, err)
	}
	return n, nil
}

// ApplyRemote applies changes from the hub's log and moves the cursor to cursor, in one
// transaction, so a crash leaves either both or neither. Changes already seen are no-ops
// (merge), so a page pulled twice, or overlapping a stream frame, is harmless; order does not
// matter either. A change that is this edge's own pending change acknowledges it (the push
// answer may have been lost). The cursor never moves backwards.
func (s *Store) ApplyRemote(ctx context.Context, changes []domain.Change, cursor int64) error {
	return s.write(ctx, func(t *tx) error {
		// This edge's own changes coming back are acknowledged together (ackAll) after the
		// loop; revive touches dead letters only, never a pending change, so the order
		// does not matter.
		var acks []ackOf
		for _, c := range changes {
			row, err := t.row(ctx, c.Entity, c.EntityID)
			if err != nil {
				return err
			}
			next, res, err := merge.Apply(row, c)
			if err != nil {
				return fmt.Errorf("apply change %s (seq %d): %w", c.ID, c.Seq, err)
			}
			t.observe(c)
			if c.Origin == s.Node && c.Seq > 0 {
				acks = append(acks, ackOf{c.ID, c.Seq})
				if err := t.revive(ctx, c.ID, c.Seq); err != nil {
					return err
				}
			}
			if !res.Duplicate {
				t.put(next)
			}
		}
		if err := t.ackAll(ctx, acks); err != nil {
			return err
		}
		var cur int64
		if v, err := getMeta(ctx, t, metaCursor); err != nil {
			return err
		} else if v != "" {
			cur, _ = strconv.ParseInt(v, 10, 64)
		}
		if cursor > cur {
			return setMeta(ctx, t, metaCursor, strconv.FormatInt(cursor, 10))
		}
		return nil
	})
}

// Reset forgets everything received from the hub — rows, cursor — and rebuilds the rows
// from this edge's pending changes alone, in one transaction. The sync loop calls it when
// the hub's log is shorter than the cursor (the edge's state came from another hub
// database); a pull from 0 then brings the hub's state back. Pending changes are kept and
// will be pushed; acknowledged ones are in the hub's log (or were lost with it).
func (s *Store) Reset(ctx context.Context) error {
	pending, err := s.Pending(ctx, 1<<30)
	if err != nil {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		t.s.cache.clear() // empty is always safe, whether this commits or not
		if _, err := t.ExecContext(ctx, "DELETE FROM rows"); err != nil {
			return fmt.Errorf("reset rows: %w", err)
		}
		if err := setMeta(ctx, t, metaCursor, "0"); err != nil {
			return err
		}
		for _, c := range pending {
			row, err := t.row(ctx, c.Entity, c.EntityID)
			if err != nil {
				return err
			}
			next, _, err := merge.Apply(row, c)
			if err != nil {
				return fmt.Errorf("replay pending change %s: %w", c.ID, err)
			}
			t.put(next)
		}
		return nil
	})
}

// revive handles a change this edge had dead-lettered that turns up in the hub's log after
// all (a whole-batch refusal that was not the change's fault): the log wins.
func (t *tx) revive(ctx context.Context, id string, seq int64) error {
	if t.noDead == 0 {
		var any int
		if err := t.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM dead_letters)").Scan(&any); err != nil {
			return fmt.Errorf("revive change %s: %w", id, err)
		}
		t.noDead = 1 + any
	}
	if t.noDead == 1 {
		return nil // nothing was dead-lettered; the common case, one query per transaction
	}
	res, err := t.ExecContext(ctx, "DELETE FROM dead_letters WHERE change_id = ?", id)
	if err != nil {
		return fmt.Errorf("revive change %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if _, err := t.ExecContext(ctx, "UPDATE outbox SET status = 'acked', hub_seq = ?, updated_at = ? WHERE change_id = ?", seq, micros(t.now), id); err != nil {
			return fmt.Errorf("revive change %s: %w", id, err)
		}
	}
	return nil
}

// Stats is the replica's sync position, for health and metrics.
type Stats struct {
	Node          string
	Cursor        int64
	Pending       int
	Dead          int
	Acked         int
	OldestPending time.Time // zero when nothing is pending
}

// Stats returns the outbox depth and cursor.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Node: s.Node}
	var err error
	if st.Cursor, err = s.Cursor(ctx); err != nil {
		return st, err
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT status, count(*), min(created_at) FROM outbox GROUP BY status")
	if err != nil {
		return st, fmt.Errorf("outbox stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		var oldest int64
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return st, fmt.Errorf("outbox stats: %w", err)
		}
		switch status {
		case StatusPending:
			st.Pending, st.OldestPending = n, fromMicros(oldest)
		case StatusAcked:
			st.Acked = n
		case StatusDead:
			st.Dead = n
		}
	}
	return st, rows.Err()
}

// DeadLetter is a change the hub refused, with its reason.
type DeadLetter struct {
	Change domain.Change `json:"change"`
	Code   domain.Code   `json:"code"`
	Reason string        `json:"reason"`
	At     time.Time     `json:"at"`
}

// DeadLetters lists refused changes, oldest first, at most limit (default 100).
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT change, code, reason, at FROM dead_letters ORDER BY outbox_seq LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var b, code string
		var at int64
		if err := rows.Scan(&b, &code, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("scan dead letter: %w", err)
		}
		if err := json.Unmarshal([]byte(b), &d.Change); err != nil {
			return nil, fmt.Errorf("decode dead letter: %w", err)
		}
		d.Code, d.At = domain.Code(code), fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Digest is the answer of GET /api/sync/digest.
type Digest struct {
	Zone   string `json:"zone"`
	Digest string `json:"digest"`
	Cursor int64  `json:"cursor"`
	Rows   int    `json:"rows"`
}

// Digest returns merge.DigestStates over the visible state of the zone's rows: tickets and
// teams whose zone is zone, and the zone itself (tombstones included, as deleted states).
// It equals the hub's digest for the zone once both have seen the same changes.
func (s *Store) Digest(ctx context.Context, zone string) (Digest, error) {
	d := Digest{Zone: zone}
	// Read the cursor and the rows in one read transaction, so they describe one state.
	rtx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return d, fmt.Errorf("begin digest: %w", err)
	}
	defer rtx.Rollback()
	if v, err := getMeta(ctx, rtx, metaCursor); err != nil {
		return d, err
	} else if v != "" {
		d.Cursor, _ = strconv.ParseInt(v, 10, 64)
	}
	// The visible state is the doc column (the row's visible fields, written with its state
	// by saveRow) and the deleted flag: decoding the doc costs a fraction of decoding the
	// whole merge state, and DigestStates canonicalizes the values, so their escaping does
	// not matter. A doc that does not decode falls back to the state.
	rows, err := rtx.QueryContext(ctx, "SELECT entity, id, deleted, doc, state FROM rows WHERE entity IN ('ticket', 'team', 'zone', 'note') AND zone = ?", zone)
	if err != nil {
		return d, fmt.Errorf("digest rows: %w", err)
	}
	defer rows.Close()
	var states []merge.State
	for rows.Next() {
		var e, id string
		var deleted int
		var doc, state sql.RawBytes
		if err := rows.Scan(&e, &id, &deleted, &doc, &state); err != nil {
			return d, fmt.Errorf("scan digest row: %w", err)
		}
		st := merge.State{Entity: domain.Entity(e), ID: id, Deleted: deleted != 0}
		if err := json.Unmarshal(doc, &st.Fields); err != nil || st.Fields == nil {
			r, err := decodeState(state)
			if err != nil {
				return d, fmt.Errorf("decode digest row: %w", err)
			}
			st = r.State()
		}
		states = append(states, st)
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.Digest, d.Rows = merge.DigestStates(states), len(states)
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
