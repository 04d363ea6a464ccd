// Package merge is sync's conflict resolution: given the changes a replica has seen for one
// row, in any order, it computes the same row state and the same conflict records. Replicas
// that have seen the same set of changes therefore converge (equal Digest) whatever order the
// network delivered them in, and no lost write goes unrecorded.
//
// The rules, applied per field:
//
//   - Last writer wins, ordered by Version: the change's hybrid logical clock, then its ID.
//   - A delete is a tombstone that wins over every edit: edits older than the first delete stay
//     in the row's final snapshot, edits newer than it are rejected (not resurrected) and
//     recorded as KindDeleted conflicts.
//   - A ticket that a change closed or cancelled (a final status) takes no later edit except
//     the same status again (and the hub's ticket_number, which names the row): such edits
//     are rejected as KindFinal.
//   - A status write that did not see an earlier "resolved" and is not a legal transition from
//     it is rejected as KindTransition: a stale offline edit does not reopen a resolved ticket.
//     (A stale status edit older than the resolution simply loses last-writer-wins.)
//   - A standing write that a later standing write to the same field overwrote with another
//     value, without having seen it, is recorded as KindConcurrent. "Seen" means the later
//     write came from the same origin, or its Base clock for the field is at or after the
//     earlier write. Rejected writes neither win nor overwrite.
//   - Edits to different fields never conflict: both survive.
//
// Every rule is a function of the set of changes, never of arrival order. Apply reports the
// conflict records each change adds, and the rare ones it withdraws (when a write that had
// overwritten another turns out to be rejected), so a store that follows Results holds the
// row's conflict set. The cost is that a Row keeps every change it has seen.
package merge

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/fastjson"
	"github.com/aiff/aiff/sync/hlc"
)

// Version orders writes: by hybrid logical clock (encoded, so string order is clock order),
// then by change ID, which makes the order total even for equal clocks.
type Version struct {
	HLC    string `json:"hlc"`
	Change string `json:"change"`
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after u.
func (v Version) Compare(u Version) int {
	if c := strings.Compare(v.HLC, u.HLC); c != 0 {
		return c
	}
	return strings.Compare(v.Change, u.Change)
}

// Field is a field's visible value and the write it came from.
type Field struct {
	Value   json.RawMessage `json:"value"`
	Version Version         `json:"version"`
}

// Kind says why a write lost.
type Kind string

const (
	KindConcurrent Kind = "concurrent" // overwritten by a later write that had not seen it
	KindDeleted    Kind = "deleted"    // rejected: made after the row was deleted
	KindFinal      Kind = "final"      // rejected: made after the ticket was closed or cancelled
	KindTransition Kind = "transition" // rejected: illegal status change from a resolution it had not seen
	// KindRefused is not merge's: the hub refused the change at push because it did not fit
	// the row as the hub held it (an illegal status transition after a concurrent one, an
	// edit below the compaction horizon or of a collected tombstone). The change is not in
	// the log; the record keeps what it tried to write.
	KindRefused Kind = "refused"
)

// Conflict records one write that did not survive, for a dispatcher to review. Its identity is
// (Entity, EntityID, Field, Change, Kind); Value is the lost value, HLC its clock.
type Conflict struct {
	Entity   domain.Entity   `json:"entity"`
	EntityID string          `json:"entity_id"`
	Field    string          `json:"field"`
	Kind     Kind            `json:"kind"`
	Change   string          `json:"change"`
	Origin   string          `json:"origin"`
	Actor    string          `json:"actor"`
	HLC      string          `json:"hlc"`
	Value    json.RawMessage `json:"value"`
}

func (c Conflict) key() string {
	return c.Field + "\x00" + c.Change + "\x00" + string(c.Kind)
}

func compareConflicts(a, b Conflict) int {
	return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Change, b.Change), strings.Compare(string(a.Kind), string(b.Kind)))
}

// Row is the merge state of one row: the set of changes seen (normalized, in Version order)
// and what follows from them. Fields, Deleted and Conflicts are derived from Changes. Apply
// may build on them rather than recompute them (insertEdit), so a Row must carry them as
// Apply, Replay or Rebuild left them: one stored as JSON is stored whole, or Rebuilt after
// reading.
type Row struct {
	Entity    domain.Entity    `json:"entity"`
	ID        string           `json:"id"`
	Changes   []domain.Change  `json:"changes"`
	Fields    map[string]Field `json:"fields"`
	Deleted   *Version         `json:"deleted,omitempty"` // the first delete, if any
	Conflicts []Conflict       `json:"conflicts,omitempty"`
}

// Result tells a store what one Apply did.
type Result struct {
	// Duplicate: the change was already in the row (same ID, clock not lower); nothing changed.
	Duplicate bool
	// Applied lists the change's fields whose value is now visible, sorted.
	Applied []string
	// Overwritten lists fields whose previously visible value was replaced, sorted.
	Overwritten []string
	// Removed lists fields that had a visible value and no longer have one (their only
	// standing write turned out to be rejected), sorted. Rare.
	Removed []string
	// Deleted: the row became deleted with this change.
	Deleted bool
	// Conflicts are the records new with this change, sorted.
	Conflicts []Conflict
	// Withdrawn are earlier records that no longer hold, sorted: the write that overwrote a
	// value turned out to be rejected itself (a delete, closure or resolution it had not seen
	// arrived), or a clamped copy moved a change's clock. Rare; a store marks them moot.
	Withdrawn []Conflict
}

// VersionOf returns the Version of c, validating its clock. A change without an HLC (made
// by a store that does not stamp one) is placed at its At millisecond with logical 0 and its
// origin as node, so it still has a deterministic place.
func VersionOf(c domain.Change) (Version, error) {
	if c.HLC != "" {
		// Parse takes only the canonical encoding, so c.HLC is what its String would give.
		if _, err := hlc.Parse(c.HLC); err != nil {
			return Version{}, err
		}
		return Version{HLC: c.HLC, Change: c.ID}, nil
	}
	ts := hlc.Timestamp{Wall: c.At.UnixMilli(), Node: c.Origin}
	if err := ts.Validate(); err != nil {
		return Version{}, domain.FieldErrorf("hlc", "change %s has no hlc and no valid origin and time", c.ID)
	}
	return Version{HLC: ts.String(), Change: c.ID}, nil
}

// Apply adds c to row and returns the new row and what changed. The input row is not
// modified. A zero row takes its entity and id from c. Applying a change whose ID the row
// already holds is a no-op (Duplicate), unless c carries a lower clock: that is the hub's
// clamped copy of the change, which replaces the origin's copy. Returns CodeInvalid if c is
// for another row, or has an invalid id, op, clock, base or patch value.
func Apply(row Row, c domain.Change) (Row, Result, error) { return apply(row, c, false) }

// ApplyOwned is Apply for a caller that owns row's Fields map (nothing else holds it) and
// uses only the returned row from now on: Apply's common case then updates that map in
// place instead of copying it, which is most of its cost on a row with many fields. A hub
// applies a batch's changes to a row one after another this way. The result is Apply's.
func ApplyOwned(row Row, c domain.Change) (Row, Result, error) { return apply(row, c, true) }

func apply(row Row, c domain.Change, owned bool) (Row, Result, error) {
	if row.Entity == "" && row.ID == "" {
		row.Entity, row.ID = c.Entity, c.EntityID
	}
	if c.Entity != row.Entity || c.EntityID != row.ID {
		return row, Result{}, domain.Errorf(domain.CodeInvalid, "change %s is for %s %s, not %s %s", c.ID, c.Entity, c.EntityID, row.Entity, row.ID)
	}
	n, err := normalize(c)
	if err != nil {
		return row, Result{}, err
	}
	i := slices.IndexFunc(row.Changes, func(o domain.Change) bool { return o.ID == n.ID })
	if i < 0 {
		if next, res, ok := insertEdit(row, row.Changes, n, owned); ok {
			return next, res, nil
		}
	}
	changes := slices.Clone(row.Changes)
	if i >= 0 {
		if n.HLC >= changes[i].HLC {
			return row, Result{Duplicate: true}, nil
		}
		// The hub's clamped copy replaces the origin's: its records may move, so build.
		changes = slices.Delete(changes, i, i+1)
	}
	changes = append(changes, n)
	next := build(row.Entity, row.ID, changes)
	return next, diff(row, next, n), nil
}

// insertEdit is Apply's fast path for the common case: n is an edit of a row that is not
// deleted and, for a ticket, has no final status; if n sets a status it sorts after every
// change the row holds and is not a resolution's illegal successor. Then no rule rejects n
// and no earlier decision moves: each of n's fields becomes visible unless a later standing
// write holds it, and the only new records are concurrent ones — for earlier standing
// writes that n overwrites with another value without having seen them, and for n where a
// later write did that to it. That is what build computes, in O(fields × changes) instead
// of a rebuild of the row with its O(changes²) rule passes and maps; edits usually arrive in
// clock order or just before the hub's own follow-up change. ok is false when the case does
// not hold and the caller builds. prior is row.Changes, which does not hold n's id. owned
// (ApplyOwned) lets it update row.Fields in place; it changes nothing when ok is false.
func insertEdit(row Row, prior []domain.Change, n domain.Change, owned bool) (Row, Result, bool) {
	if n.Op != domain.OpUpsert || row.Deleted != nil || (len(prior) > 0 && len(row.Fields) == 0) {
		return Row{}, Result{}, false // (a row without its derived fields: build them)
	}
	nv := Version{HLC: n.HLC, Change: n.ID}
	at, _ := slices.BinarySearchFunc(prior, nv, func(c domain.Change, v Version) int {
		return Version{HLC: c.HLC, Change: c.ID}.Compare(v)
	})
	nw := write{c: n, v: nv}
	if row.Entity == domain.EntityTicket {
		if raw, ok := n.Patch["status"]; ok {
			if at < len(prior) {
				return Row{}, Result{}, false // a status before later writes: the rules may move
			}
			nw.status = statusOf[string(raw)]
		}
		for _, c := range prior {
			st := statusOf[string(c.Patch["status"])]
			if st.Final() {
				return Row{}, Result{}, false // the final rule may reject n: build decides
			}
			if st == domain.StatusResolved && nw.status != "" && nw.status != st && !st.CanTransition(nw.status) &&
				!nw.saw(write{c: c, v: Version{HLC: c.HLC, Change: c.ID}}, "status") {
				return Row{}, Result{}, false // n is a transition rejection
			}
		}
	}
	// Writes rejected for a field (here only by the transition rule) neither win nor are
	// overwritten; their records say which.
	var rejected map[string]bool
	for _, c := range row.Conflicts {
		if c.Kind != KindConcurrent {
			if rejected == nil {
				rejected = map[string]bool{}
			}
			rejected[c.Field+"\x00"+c.Change] = true
		}
	}
	changes := make([]domain.Change, 0, len(prior)+1)
	changes = append(append(append(changes, prior[:at]...), n), prior[at:]...)
	next := Row{Entity: row.Entity, ID: row.ID, Changes: changes}
	switch {
	case len(row.Fields) == 0:
		// Room for one more field: a hub numbers a new ticket in a change of its own.
		next.Fields = make(map[string]Field, len(n.Patch)+1)
	case owned:
		next.Fields = row.Fields
	default:
		// A clone copies the map's table as it is, without rehashing every field; an
		// edit usually sets fields the row has, so it seldom grows.
		next.Fields = maps.Clone(row.Fields)
	}
	var res Result
	var added []Conflict
	add := func(c domain.Change, field string) {
		rec := Conflict{Entity: row.Entity, EntityID: row.ID, Field: field, Kind: KindConcurrent, Change: c.ID,
			Origin: c.Origin, Actor: c.Actor, HLC: c.HLC, Value: c.Patch[field]}
		k := rec.key()
		if slices.ContainsFunc(row.Conflicts, func(o Conflict) bool { return o.key() == k }) ||
			slices.ContainsFunc(added, func(o Conflict) bool { return o.key() == k }) {
			return
		}
		added = append(added, rec)
	}
	for field, val := range n.Patch {
		held := false // a later standing write holds the field
		for _, c := range prior[at:] {
			later, ok := c.Patch[field]
			if !ok || rejected[field+"\x00"+c.ID] {
				continue
			}
			held = true
			if !bytes.Equal(later, val) && !(write{c: c, v: Version{HLC: c.HLC, Change: c.ID}}).saw(nw, field) {
				add(n, field)
				break
			}
		}
		if !held {
			if f, had := row.Fields[field]; had && f.Version.Change != n.ID {
				res.Overwritten = append(res.Overwritten, field)
			}
			next.Fields[field] = Field{Value: val, Version: nv}
			if res.Applied == nil {
				res.Applied = make([]string, 0, len(n.Patch))
			}
			res.Applied = append(res.Applied, field)
		}
		for _, c := range prior[:at] {
			old, ok := c.Patch[field]
			if !ok || bytes.Equal(old, val) || rejected[field+"\x00"+c.ID] {
				continue
			}
			if !nw.saw(write{c: c, v: Version{HLC: c.HLC, Change: c.ID}}, field) {
				add(c, field)
			}
		}
	}
	if len(added) > 0 {
		slices.SortFunc(added, compareConflicts)
		next.Conflicts = slices.SortedFunc(slices.Values(append(slices.Clone(row.Conflicts), added...)), compareConflicts)
		res.Conflicts = added
	} else {
		next.Conflicts = row.Conflicts
	}
	slices.Sort(res.Applied)
	slices.Sort(res.Overwritten)
	return next, res, true
}

// Replay builds a row from a set of changes for it, in any order. It gives the row Apply
// would give change by change (the same validation, errors and duplicate rule: of two copies
// of a change the lower clock wins, the first on a tie), but builds it once, so a row's
// history costs one build instead of one per change.
func Replay(changes []domain.Change) (Row, error) {
	var entity domain.Entity
	var id string
	kept := make([]domain.Change, 0, len(changes))
	at := make(map[string]int, len(changes))
	for _, c := range changes {
		if entity == "" && id == "" {
			entity, id = c.Entity, c.EntityID
		}
		if c.Entity != entity || c.EntityID != id {
			return Row{}, domain.Errorf(domain.CodeInvalid, "change %s is for %s %s, not %s %s", c.ID, c.Entity, c.EntityID, entity, id)
		}
		n, err := normalize(c)
		if err != nil {
			return Row{}, err
		}
		if i, ok := at[n.ID]; ok {
			if n.HLC < kept[i].HLC {
				kept[i] = n
			}
			continue
		}
		at[n.ID] = len(kept)
		kept = append(kept, n)
	}
	if len(kept) == 0 {
		return Row{}, nil
	}
	return build(entity, id, kept), nil
}

// Rebuild recomputes the derived parts of a row from its Changes (after reading it back from
// storage, say), validating them.
func (r Row) Rebuild() (Row, error) {
	changes := make([]domain.Change, 0, len(r.Changes))
	for _, c := range r.Changes {
		n, err := normalize(c)
		if err != nil {
			return r, err
		}
		changes = append(changes, n)
	}
	return build(r.Entity, r.ID, changes), nil
}

// normalize validates c and returns the copy a row keeps: clock in canonical form (derived if
// absent), Seq cleared (it is the hub's bookkeeping, not part of the change), patch values in
// canonical JSON, time in UTC.
func normalize(c domain.Change) (domain.Change, error) {
	if !domain.ValidID(c.ID) {
		return c, domain.FieldErrorf("id", "invalid change id")
	}
	v, err := VersionOf(c)
	if err != nil {
		return c, err
	}
	n := c
	n.Seq, n.HLC, n.At = 0, v.HLC, c.At.UTC()
	switch c.Op {
	case domain.OpUpsert:
		if len(c.Patch) == 0 {
			return c, domain.FieldErrorf("patch", "upsert %s has an empty patch", c.ID)
		}
		// Values are mostly canonical already: the patch is copied only when one is not,
		// and otherwise the row shares the caller's map (nothing writes a change's patch
		// once it is made).
		cloned := false
		for k, val := range c.Patch {
			cv, err := Canonical(val)
			if err != nil {
				return c, domain.FieldErrorf("patch", "field %q of change %s is not valid json", k, c.ID)
			}
			if !bytes.Equal(cv, val) {
				if !cloned {
					n.Patch, cloned = maps.Clone(c.Patch), true
				}
				n.Patch[k] = cv
			}
		}
	case domain.OpDelete:
		n.Patch = nil
	default:
		return c, domain.FieldErrorf("op", "unknown op %q", c.Op)
	}
	n.Base = nil
	if len(c.Base) > 0 {
		n.Base = make(map[string]string, len(c.Base))
		for k, b := range c.Base {
			if _, err := hlc.Parse(b); err != nil {
				return c, domain.FieldErrorf("base", "base of field %q of change %s is not a valid hlc", k, c.ID)
			}
			n.Base[k] = b // canonical, as Parse took it
		}
	}
	return n, nil
}

// Canonical returns v re-encoded canonically: compact, object keys sorted, numbers as written,
// no HTML escaping. Equal JSON values from Go encoders have equal canonical forms.
func Canonical(v json.RawMessage) (json.RawMessage, error) {
	if fastjson.PlainScalar(v) || fastjson.PlainList(v) {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("canonical json: data after value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// write is one change seen from merge's side.
type write struct {
	c      domain.Change
	v      Version
	status domain.Status // a ticket change's new status, "" if it sets none
}

// saw reports whether w was made with knowledge of earlier write e's value of field.
func (w write) saw(e write, field string) bool {
	if w.c.Origin == e.c.Origin {
		return true
	}
	b, ok := w.c.Base[field]
	return ok && b >= e.v.HLC
}

// statusOf maps the canonical JSON of each ticket status to the status.
var statusOf = func() map[string]domain.Status {
	m := map[string]domain.Status{}
	for _, st := range domain.Statuses {
		b, _ := json.Marshal(st)
		m[string(b)] = st
	}
	return m
}()

// build computes a row from normalized changes. It is a pure function of the set. It costs
// O(n²) in the number of changes to the row, which is small for tickets (tens).
func build(entity domain.Entity, id string, changes []domain.Change) Row {
	ws := make([]write, 0, len(changes))
	for _, c := range changes {
		// normalize made c.HLC canonical, so it is the version's clock as it stands.
		w := write{c: c, v: Version{HLC: c.HLC, Change: c.ID}}
		if entity == domain.EntityTicket {
			if raw, ok := c.Patch["status"]; ok {
				w.status = statusOf[string(raw)]
			}
		}
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b write) int { return a.v.Compare(b.v) })

	fields := 0 // a size hint: the first change (a create) usually sets every field
	if len(ws) > 0 {
		fields = len(ws[0].c.Patch)
	}
	row := Row{Entity: entity, ID: id, Changes: make([]domain.Change, len(ws)), Fields: make(map[string]Field, fields)}
	var firstDelete *Version
	for i, w := range ws {
		row.Changes[i] = w.c
		if w.c.Op == domain.OpDelete && firstDelete == nil {
			v := w.v
			firstDelete = &v
		}
	}
	row.Deleted = firstDelete

	conflicts := map[string]Conflict{}
	record := func(w write, field string, kind Kind) {
		c := Conflict{Entity: entity, EntityID: id, Field: field, Kind: kind, Change: w.c.ID,
			Origin: w.c.Origin, Actor: w.c.Actor, HLC: w.v.HLC, Value: w.c.Patch[field]}
		conflicts[c.key()] = c
	}

	// Rejections, in layers that each depend only on the set and on the layers before:
	// deleted (on deletes), transition (on resolutions), final (on final statuses that were
	// not themselves rejected as transitions).
	type fieldOf struct {
		i     int
		field string
	}
	rejected := map[fieldOf][]Kind{}
	transitionRejected := make([]bool, len(ws))
	for i, w := range ws {
		if w.status == "" {
			continue
		}
		for _, p := range ws[:i] {
			if p.status == domain.StatusResolved && w.status != p.status &&
				!p.status.CanTransition(w.status) && !w.saw(p, "status") {
				transitionRejected[i] = true
				rejected[fieldOf{i, "status"}] = append(rejected[fieldOf{i, "status"}], KindTransition)
				break
			}
		}
	}
	finalAt := -1 // the first final status that stands
	if entity == domain.EntityTicket {
		for i, w := range ws {
			if w.status.Final() && !transitionRejected[i] {
				finalAt = i
				break
			}
		}
	}
	for i, w := range ws {
		if w.c.Op != domain.OpUpsert {
			continue
		}
		deleted := firstDelete != nil && firstDelete.Compare(w.v) < 0
		final := finalAt >= 0 && i > finalAt && w.status != ws[finalAt].status
		for field := range w.c.Patch {
			k := fieldOf{i, field}
			if deleted {
				rejected[k] = append(rejected[k], KindDeleted)
			}
			if final && !hubAssigned(w.c, field) {
				rejected[k] = append(rejected[k], KindFinal)
			}
		}
	}
	for k, kinds := range rejected {
		for _, kind := range kinds {
			record(ws[k.i], k.field, kind)
		}
	}

	// Last writer wins among the writes that stand; a standing write lost to a later standing
	// write of another value that had not seen it is a concurrent conflict.
	for i, w := range ws {
		if w.c.Op != domain.OpUpsert {
			continue
		}
		for field, val := range w.c.Patch {
			if len(rejected[fieldOf{i, field}]) > 0 {
				continue
			}
			row.Fields[field] = Field{Value: val, Version: w.v} // ws is in version order
			for j := i + 1; j < len(ws); j++ {
				later := ws[j]
				lv, ok := later.c.Patch[field]
				if ok && len(rejected[fieldOf{j, field}]) == 0 && !bytes.Equal(lv, val) && !later.saw(w, field) {
					record(w, field, KindConcurrent)
					break
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(conflicts)) {
		row.Conflicts = append(row.Conflicts, conflicts[k])
	}
	slices.SortFunc(row.Conflicts, compareConflicts)
	return row
}

// hubAssigned reports whether field of c is an identity value the hub gives a row after
// accepting it (the ticket number of a ticket created on an edge). It names the row rather
// than editing it, so a ticket closed or cancelled before the hub numbered it still gets its
// number: otherwise the hub's follow-up change would lose to a cancellation made offline.
func hubAssigned(c domain.Change, field string) bool {
	return field == "ticket_number" && c.Origin == domain.HubOrigin
}

// diff reports what changed from old to next when n was applied.
func diff(old, next Row, n domain.Change) Result {
	var res Result
	for k, f := range next.Fields {
		o, had := old.Fields[k]
		if had && o.Version == f.Version {
			continue
		}
		if had && o.Version.Change != f.Version.Change {
			res.Overwritten = append(res.Overwritten, k)
		}
		if f.Version.Change == n.ID {
			res.Applied = append(res.Applied, k)
		}
	}
	for k := range old.Fields {
		if _, ok := next.Fields[k]; !ok {
			res.Removed = append(res.Removed, k)
		}
	}
	slices.Sort(res.Removed)
	res.Deleted = old.Deleted == nil && next.Deleted != nil
	before, after := map[string]bool{}, map[string]bool{}
	for _, c := range old.Conflicts {
		before[c.key()] = true
	}
	for _, c := range next.Conflicts {
		after[c.key()] = true
		if !before[c.key()] {
			res.Conflicts = append(res.Conflicts, c)
		}
	}
	for _, c := range old.Conflicts {
		if !after[c.key()] {
			res.Withdrawn = append(res.Withdrawn, c)
		}
	}
	slices.Sort(res.Applied)
	slices.Sort(res.Overwritten)
	return res
}
