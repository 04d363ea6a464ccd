package merge

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// Compaction: the hub's change log keeps a row's full history, which grows with every edit.
// Compact folds the part of a row's history that is older than a horizon into the few changes
// that still matter, so that the log's size tracks live data rather than history.
//
// The folded form is made of ordinary changes: a subset of the row's changes, some with
// fewer patch (and base) entries. Nothing else is ever altered: not an id, a clock, a value,
// an origin, a zone or a seq. So Apply, Replay, the wire format and the stores take it as
// they are, and a replica that holds a mixture of full and folded copies (a reader that had
// applied part of the history before the log was compacted) still converges.
//
// What is kept of the changes older than the horizon (the folded set F), per row:
//
//   - for every field with a visible value, the change whose write is visible (its winning
//     Version and value), trimmed to the fields it wins;
//   - the first delete (the tombstone's Version);
//   - for tickets, every write of status "resolved" (the transition rule asks whether a later
//     write had seen each of them) and the first final status that stands (the final rule
//     rejects later edits against it); a kept ticket change also keeps its own "status"
//     entry, since the final and transition rules look at it;
//   - base clocks of the kept patch entries.
//
// The guarantee (proven by the property tests in compact_test.go): for any set S of copies of
// F's changes that contains the folded form — the folded form alone, or a reader's older full
// copies plus the folded form — and any set L of changes whose versions are all after the
// horizon, Replay(S ∪ L) has the same visible state, hence the same digest, as Replay(F ∪ L),
// and L's changes get the same conflict records. It does not hold for a change older than the
// horizon: a late delete, closure or resolution can reject a folded write retroactively and
// expose a value that compaction dropped. The hub must therefore refuse such changes once it
// has compacted with a horizon (see BelowHorizon and sync/PROTOCOL.md, "Snapshots and
// compaction").
//
// Conflict records about writes that were already overwritten (not visible) are not made
// again: a later change that did not see the visible value gets a record against that value,
// not also against the older values folded beneath it. Records made before compaction are the
// store's (sync_conflicts) and compaction does not touch them.
//
// If a rule is added to build, the kept set above must be extended with whatever the rule
// reads; the property tests are written to catch a rule that is not.

// Compaction says what Compact did to one row's changes.
type Compaction struct {
	// Changes is the row's new change set: the input minus Dropped, with trimmed copies in
	// place of the changes named in Trimmed, in input order. Unfolded changes are the input
	// values unchanged.
	Changes []domain.Change
	// Dropped are the input changes removed entirely, in input order.
	Dropped []domain.Change
	// Trimmed lists the ids of changes in Changes that lost patch or base entries, in input
	// order.
	Trimmed []string
	// Folded counts the input changes older than the horizon (kept or not).
	Folded int
	// Newest is the Version of the newest folded change; zero if nothing was folded.
	Newest Version
}

// HorizonAt returns the horizon that folds every change whose clock's wall time is before t
// (millisecond precision) and nothing else. A horizon is a Version with an empty Change: no
// change's Version equals it.
func HorizonAt(t time.Time) Version {
	ms := max(t.UnixMilli(), 0)
	return Version{HLC: hlc.Timestamp{Wall: min(ms, hlc.MaxWall), Node: "!"}.String()}
}

// ParseHorizon reads a horizon written as its clock (Version.HLC), the form snapshot headers
// and stores keep. The empty string is the zero horizon, which folds nothing.
func ParseHorizon(s string) (Version, error) {
	if s == "" {
		return Version{}, nil
	}
	ts, err := hlc.Parse(s)
	if err != nil {
		return Version{}, domain.FieldErrorf("horizon", "horizon must be an hlc")
	}
	return Version{HLC: ts.String()}, nil
}

// BelowHorizon reports whether c is older than horizon, that is, whether Compact with that
// horizon folds it. The hub uses it on push: once any replica may have folded a row with a
// horizon, a new change to that row below the horizon cannot be merged identically on every
// replica and must be refused (sync/PROTOCOL.md). Returns CodeInvalid for an invalid clock.
func BelowHorizon(c domain.Change, horizon Version) (bool, error) {
	v, err := VersionOf(c)
	if err != nil {
		return false, err
	}
	return v.Compare(horizon) < 0, nil
}

// Compact folds the changes of one row that are older than horizon (Version before it),
// keeping what later merges need (see the package's compaction notes) and leaving every
// newer change as it is. The input is every change the caller holds for the row, in any
// order, each id once. Compact is idempotent, and compacting at a horizon then at a later one
// equals compacting at the later one. Returns CodeInvalid if the changes are for more than
// one row, repeat an id, or fail Apply's validation.
func Compact(changes []domain.Change, horizon Version) (Compaction, error) {
	if len(changes) == 0 {
		return Compaction{}, nil
	}
	entity, id := changes[0].Entity, changes[0].EntityID
	seen := make(map[string]bool, len(changes))
	var folded []domain.Change // normalized copies of the folded changes
	isFolded := make([]bool, len(changes))
	var res Compaction
	for i, c := range changes {
		if c.Entity != entity || c.EntityID != id {
			return Compaction{}, domain.Errorf(domain.CodeInvalid, "change %s is for %s %s, not %s %s", c.ID, c.Entity, c.EntityID, entity, id)
		}
		if seen[c.ID] {
			return Compaction{}, domain.FieldErrorf("id", "change %s appears twice", c.ID)
		}
		seen[c.ID] = true
		n, err := normalize(c)
		if err != nil {
			return Compaction{}, err
		}
		v := Version{HLC: n.HLC, Change: n.ID}
		if v.Compare(horizon) >= 0 {
			continue
		}
		folded = append(folded, n)
		isFolded[i] = true
		if res.Folded == 0 || v.Compare(res.Newest) > 0 {
			res.Newest = v
		}
		res.Folded++
	}
	if res.Folded == 0 {
		res.Changes = slices.Clone(changes)
		return res, nil
	}
	keep := keptFields(build(entity, id, folded))
	for i, c := range changes {
		if !isFolded[i] {
			res.Changes = append(res.Changes, c)
			continue
		}
		fields, ok := keep[c.ID]
		if !ok {
			res.Dropped = append(res.Dropped, c)
			continue
		}
		t, trimmed := trim(c, fields)
		if trimmed {
			res.Trimmed = append(res.Trimmed, c.ID)
		}
		res.Changes = append(res.Changes, t)
	}
	return res, nil
}

// Compact returns the row with its changes older than horizon folded (see Compact) and its
// derived state rebuilt. The visible state is unchanged.
func (r Row) Compact(horizon Version) (Row, error) {
	if len(r.Changes) == 0 {
		return r, nil
	}
	res, err := Compact(r.Changes, horizon)
	if err != nil {
		return r, err
	}
	return Row{Entity: r.Entity, ID: r.ID, Changes: res.Changes}.Rebuild()
}

// keptFields maps the id of every change of the folded row that must be kept to the patch
// fields it keeps (an empty set for the tombstone).
func keptFields(row Row) map[string]map[string]bool {
	keep := map[string]map[string]bool{}
	add := func(change, field string) {
		if keep[change] == nil {
			keep[change] = map[string]bool{}
		}
		if field != "" {
			keep[change][field] = true
		}
	}
	for f, fv := range row.Fields {
		add(fv.Version.Change, f)
	}
	if row.Deleted != nil {
		add(row.Deleted.Change, "")
	}
	if row.Entity != domain.EntityTicket {
		return keep
	}
	transitionRejected := map[string]bool{}
	for _, k := range row.Conflicts {
		if k.Kind == KindTransition {
			transitionRejected[k.Change] = true
		}
	}
	finalKept := false
	for _, c := range row.Changes { // in Version order
		raw, ok := c.Patch["status"]
		if !ok {
			continue
		}
		st := statusOf[string(raw)]
		switch {
		case st == domain.StatusResolved:
			add(c.ID, "status")
		case st.Final() && !finalKept && !transitionRejected[c.ID]:
			add(c.ID, "status")
			finalKept = true
		}
	}
	// A kept ticket change keeps its own status: the final and transition rules read it.
	for _, c := range row.Changes {
		if fields, ok := keep[c.ID]; ok {
			if _, has := c.Patch["status"]; has {
				fields["status"] = true
			}
		}
	}
	return keep
}

// trim returns c with only the patch entries in fields and the base entries of those fields,
// and whether anything was removed. The rest of c is returned as it is.
func trim(c domain.Change, fields map[string]bool) (domain.Change, bool) {
	trimmed := false
	if c.Patch != nil {
		p := maps.Clone(c.Patch)
		maps.DeleteFunc(p, func(k string, _ json.RawMessage) bool { return !fields[k] })
		trimmed = len(p) != len(c.Patch)
		c.Patch = p
	}
	if c.Base != nil {
		b := maps.Clone(c.Base)
		maps.DeleteFunc(b, func(k, _ string) bool { return !fields[k] })
		trimmed = trimmed || len(b) != len(c.Base)
		if len(b) == 0 {
			b = nil
		}
		c.Base = b
	}
	return c, trimmed
}
