package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// Scope (sync/PROTOCOL.md §10): the edge holds exactly the rows of its zones — tickets and
// teams in them, the zones themselves, and the users of those teams. The hub tells it its
// zones (GET /api/sync/scope), sends exits when a row moves away, and row histories when rows
// enter; this file keeps the replica to that set, and wipes it when the credential is revoked.

// Meta keys of the scope state.
const (
	metaScope   = "scope"   // JSON array of the zones last heard from the hub
	metaRevoked = "revoked" // JSON Revocation once the hub refused the credential for good
)

// DeadLetterFile is the export of dead letters written to the data dir on revocation.
const DeadLetterFile = "dead-letters.json"

// reasonLeftScope is the dead-letter reason of a pending change whose row left the scope.
const reasonLeftScope = "the row left this edge's zones before the change reached the hub"

// RowKey names a replicated row.
type RowKey struct {
	Entity domain.Entity `json:"entity"`
	ID     string        `json:"id"`
}

// Scope returns the zones last stored by SetScope (nil before the hub first told them).
func (s *Store) Scope(ctx context.Context) ([]string, error) {
	v, err := getMeta(ctx, s.reader, metaScope)
	if err != nil || v == "" {
		return nil, err
	}
	var z []string
	if err := json.Unmarshal([]byte(v), &z); err != nil {
		return nil, fmt.Errorf("stored scope: %w", err)
	}
	return z, nil
}

// ApplyScope makes zones the edge's scope, in one transaction: it stores them, merges
// changes (row histories from the hub for rows entering the scope; the cursor is not moved,
// a later pull re-delivers any of them as duplicates) and removes every row now outside the
// zones, dead-lettering the pending local changes of removed rows. It returns the keys it
// removed.
func (s *Store) ApplyScope(ctx context.Context, zones []string, changes []domain.Change) ([]RowKey, error) {
	zones = slices.Sorted(slices.Values(zones))
	var purged []RowKey
	err := s.write(ctx, func(t *tx) error {
		b, _ := json.Marshal(zones)
		if err := setMeta(ctx, t, metaScope, string(b)); err != nil {
			return err
		}
		if err := t.merge(ctx, changes); err != nil {
			return err
		}
		ph, za := inList(zones)
		keys, err := t.keys(ctx, "SELECT entity, id FROM rows WHERE entity IN ('ticket', 'team', 'zone', 'note') AND zone NOT IN ("+ph+")", za...)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := t.purge(ctx, k, reasonLeftScope); err != nil {
				return err
			}
		}
		orphans, err := t.orphanUsers(ctx)
		if err != nil {
			return err
		}
		purged = append(keys, orphans...)
		return nil
	})
	return purged, err
}

// Reconcile keeps the rows touched by a page of hub changes (already applied) within the
// scope, in one transaction: a row whose zone is no longer in the scope is removed (its
// pending local changes dead-lettered), users of teams no longer held go with them, and the
// keys of rows that entered the scope without their history (their first change here is not
// their create) are returned, for the caller to fetch with POST /api/sync/rows. Without a
// stored scope nothing is removed.
func (s *Store) Reconcile(ctx context.Context, changes []domain.Change) (removed, incomplete []RowKey, err error) {
	zones, err := s.Scope(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The rows were just applied, so the write path's row cache holds them decoded: the
	// checks read them from there (zoneOf, lacksCreate) instead of querying the rows table
	// twice per row, which with each row's whole history in its record cost more than
	// applying the page.
	err = s.write(ctx, func(t *tx) error {
		seen := make(map[RowKey]bool, len(changes))
		users := false
		for _, c := range changes {
			k := RowKey{c.Entity, c.EntityID}
			if seen[k] {
				continue
			}
			seen[k] = true
			if c.Entity == domain.EntityUser {
				users = users || c.Op == domain.OpUpsert && c.Patch["team_id"] != nil
			}
			_, hasID := c.Patch["id"]
			checkZone := c.Entity != domain.EntityUser && zones != nil
			if !checkZone && (c.Op != domain.OpUpsert || hasID) {
				continue
			}
			r, err := t.row(ctx, k.Entity, k.ID)
			if err != nil {
				return err
			}
			stored := len(r.Changes) > 0
			if checkZone {
				if !stored {
					continue
				}
				if !slices.Contains(zones, zoneOf(r)) {
					if err := t.purge(ctx, k, reasonLeftScope); err != nil {
						return err
					}
					removed = append(removed, k)
					users = users || k.Entity == domain.EntityTeam
					continue
				}
			}
			if c.Op == domain.OpUpsert && !hasID && stored && lacksCreate(r) {
				incomplete = append(incomplete, k)
			}
		}
		if users && zones != nil {
			orphans, err := t.orphanUsers(ctx)
			if err != nil {
				return err
			}
			removed = append(removed, orphans...)
		}
		return nil
	})
	// A user whose team entered the scope is incomplete until its team's users are fetched;
	// the hub sends them with the team's history.
	return removed, incomplete, err
}

// zoneOf is the zone column saveRow stores for r (columnsOf), without encoding the row's
// document: the zone (a zone's name) field, else the zone of its latest change.
func zoneOf(r merge.Row) string {
	var key string
	switch r.Entity {
	case domain.EntityTicket, domain.EntityTeam, domain.EntityNote:
		key = "zone"
	case domain.EntityZone:
		key = "name"
	}
	zone := ""
	if key != "" {
		for k := range r.Fields {
			if k != key && strings.EqualFold(k, key) {
				// encoding/json matches keys case-insensitively; leave that to columnsOf.
				return columnsOf(r, visibleDoc(r)).zone
			}
		}
		if f, ok := r.Fields[key]; ok {
			if plainString(f.Value) {
				zone = string(f.Value[1 : len(f.Value)-1])
			} else {
				_ = json.Unmarshal(f.Value, &zone) // not a string: no zone, as in columnsOf
			}
		}
	}
	if zone == "" {
		for i := len(r.Changes) - 1; i >= 0; i-- {
			if z := r.Changes[i].Zone; z != "" {
				return z
			}
		}
	}
	return zone
}

// lacksCreate reports whether a stored row that is not deleted has no id field in its
// document (json_extract(doc, '$.id') IS NULL): its history here does not start with its
// create.
func lacksCreate(r merge.Row) bool {
	if r.Deleted != nil {
		return false
	}
	f, ok := r.Fields["id"]
	return !ok || f.Value == nil || string(f.Value) == "null"
}

// merge applies hub changes to their rows without touching the cursor.
func (t *tx) merge(ctx context.Context, changes []domain.Change) error {
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
		if c.Origin == t.s.Node && c.Seq > 0 {
			if err := t.ack(ctx, c.ID, c.Seq); err != nil {
				return err
			}
		}
		if !res.Duplicate {
			t.put(next)
		}
	}
	return nil
}

// keys runs a query of (entity, id) rows.
func (t *tx) keys(ctx context.Context, q string, args ...any) ([]RowKey, error) {
	rows, err := t.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select rows: %w", err)
	}
	defer rows.Close()
	var out []RowKey
	for rows.Next() {
		var k RowKey
		var e string
		if err := rows.Scan(&e, &k.ID); err != nil {
			return nil, fmt.Errorf("select rows: %w", err)
		}
		k.Entity = domain.Entity(e)
		out = append(out, k)
	}
	return out, rows.Err()
}

// orphanUsers removes the users whose team is not held here (a user's scope is its team's).
func (t *tx) orphanUsers(ctx context.Context) ([]RowKey, error) {
	keys, err := t.keys(ctx, `SELECT entity, id FROM rows WHERE entity = 'user'
		AND assigned_team NOT IN (SELECT id FROM rows WHERE entity = 'team')`)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := t.purge(ctx, k, reasonLeftScope); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// purge removes one row: its pending local changes go to the dead letters with reason, then
// the row itself goes (through put, so the write path's caches forget it too).
func (t *tx) purge(ctx context.Context, k RowKey, reason string) error {
	rows, err := t.QueryContext(ctx, "SELECT change FROM outbox WHERE entity = ? AND entity_id = ? AND status = 'pending' ORDER BY seq",
		string(k.Entity), k.ID)
	if err != nil {
		return fmt.Errorf("pending changes of %s %s: %w", k.Entity, k.ID, err)
	}
	var pending []domain.Change
	for rows.Next() {
		var b string
		var c domain.Change
		if err := rows.Scan(&b); err == nil && json.Unmarshal([]byte(b), &c) == nil {
			pending = append(pending, c)
		}
	}
	rows.Close()
	for _, c := range pending {
		if err := t.dead(ctx, c, domain.CodeForbidden, reason); err != nil {
			return err
		}
	}
	if _, err := t.row(ctx, k.Entity, k.ID); err != nil {
		return err
	}
	t.put(merge.Row{Entity: k.Entity, ID: k.ID})
	// Also now, not only at commit, so that later queries of this transaction (users of
	// teams still held) see it gone.
	if _, err := t.ExecContext(ctx, "DELETE FROM rows WHERE entity = ? AND id = ?", string(k.Entity), k.ID); err != nil {
		return fmt.Errorf("purge %s %s: %w", k.Entity, k.ID, err)
	}
	// A user who left the scope may no longer log in here offline.
	if k.Entity == domain.EntityUser {
		if _, err := t.ExecContext(ctx, "DELETE FROM credentials WHERE user_id = ?", k.ID); err != nil {
			return fmt.Errorf("purge login of user %s: %w", k.ID, err)
		}
	}
	return nil
}

// Revocation is why the hub refused this edge for good.
type Revocation struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Revoked returns the stored revocation, or nil while the credential is live.
func (s *Store) Revoked(ctx context.Context) (*Revocation, error) {
	v, err := getMeta(ctx, s.reader, metaRevoked)
	if err != nil || v == "" {
		return nil, err
	}
	var r Revocation
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, fmt.Errorf("stored revocation: %w", err)
	}
	return &r, nil
}

// Revoke wipes the replica after the hub refused its credential for good, in one
// transaction: every pending local change moves to the dead letters with reason (kept, never
// pushed), then every replicated row, every cached login and the cursor and scope are
// removed, and the revocation is stored, so a restarted edge stays stopped. Dead letters and
// the outbox survive: they are this edge's own work, which an operator exports
// (ExportDeadLetters) and re-enters elsewhere.
func (s *Store) Revoke(ctx context.Context, reason string) error {
	return s.write(ctx, func(t *tx) error {
		rows, err := t.QueryContext(ctx, "SELECT change FROM outbox WHERE status = 'pending' ORDER BY seq")
		if err != nil {
			return fmt.Errorf("pending changes: %w", err)
		}
		var pending []domain.Change
		for rows.Next() {
			var b string
			var c domain.Change
			if err := rows.Scan(&b); err == nil && json.Unmarshal([]byte(b), &c) == nil {
				pending = append(pending, c)
			}
		}
		rows.Close()
		for _, c := range pending {
			if err := t.dead(ctx, c, domain.CodeUnauthorized, "not pushed: "+reason); err != nil {
				return err
			}
		}
		keys, err := t.keys(ctx, "SELECT entity, id FROM rows")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := t.row(ctx, k.Entity, k.ID); err != nil {
				return err
			}
			t.put(merge.Row{Entity: k.Entity, ID: k.ID})
		}
		for _, q := range []string{"DELETE FROM credentials", "DELETE FROM meta WHERE key IN ('" + metaCursor + "', '" + metaScope + "')"} {
			if _, err := t.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("revoke: %w", err)
			}
		}
		b, _ := json.Marshal(Revocation{Reason: reason, At: t.now})
		return setMeta(ctx, t, metaRevoked, string(b))
	})
}

// DeadLetterExport is the JSON file ExportDeadLetters writes.
type DeadLetterExport struct {
	Node     string       `json:"node"`
	Exported time.Time    `json:"exported_at"`
	Revoked  *Revocation  `json:"revoked,omitempty"`
	Items    []DeadLetter `json:"items"`
}

// ExportDeadLetters writes every dead letter to path as JSON (DeadLetterExport), atomically
// (a temporary file renamed over it), and returns how many it wrote.
func (s *Store) ExportDeadLetters(ctx context.Context, path string) (int, error) {
	dl, err := s.DeadLetters(ctx, 1<<30)
	if err != nil {
		return 0, err
	}
	rev, err := s.Revoked(ctx)
	if err != nil {
		return 0, err
	}
	b, err := json.MarshalIndent(DeadLetterExport{Node: s.Node, Exported: s.now(), Revoked: rev, Items: dl}, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("encode dead letters: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dead-letters-*")
	if err != nil {
		return 0, fmt.Errorf("export dead letters: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("export dead letters: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("export dead letters: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("export dead letters: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("export dead letters: %w", err)
	}
	return len(dl), nil
}

// inList returns "?, ?, …" for vals and the values as []any (a lone "" for none, which
// matches no zone, so NOT IN keeps working).
func inList(vals []string) (string, []any) {
	if len(vals) == 0 {
		return "?", []any{"\x00"}
	}
	ph := make([]byte, 0, 3*len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		if i > 0 {
			ph = append(ph, ", "...)
		}
		ph = append(ph, '?')
		args[i] = v
	}
	return string(ph), args
}

// Forget removes rows (their pending local changes dead-lettered): rows the hub no longer
// lets this edge hold.
func (s *Store) Forget(ctx context.Context, keys []RowKey) error {
	return s.write(ctx, func(t *tx) error {
		for _, k := range keys {
			if err := t.purge(ctx, k, reasonLeftScope); err != nil {
				return err
			}
		}
		return nil
	})
}

// LiveKeys returns the keys of every row held that is not a tombstone, sorted (diagnostics
// and tests: what the edge holds against what its scope says it should).
func (s *Store) LiveKeys(ctx context.Context) ([]RowKey, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT entity, id FROM rows WHERE deleted = 0 ORDER BY entity, id")
	if err != nil {
		return nil, fmt.Errorf("list rows: %w", err)
	}
	defer rows.Close()
	out := []RowKey{}
	for rows.Next() {
		var k RowKey
		var e string
		if err := rows.Scan(&e, &k.ID); err != nil {
			return nil, fmt.Errorf("list rows: %w", err)
		}
		k.Entity = domain.Entity(e)
		out = append(out, k)
	}
	return out, rows.Err()
}
