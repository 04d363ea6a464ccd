package simulation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	edgesqlite "github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// hubLog reads the hub's whole change log and checks invariant 3's log side: seqs are
// 1..head with no gap, every change id appears once, and every seq the hub ever answered a
// push with holds that change.
func (w *world) hubLog(ctx context.Context) ([]domain.Change, error) {
	st := w.hub.store
	head, err := st.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	var log []domain.Change
	for {
		page, err := st.ListChanges(ctx, int64(len(log)), nil, 1000)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if c.Seq != int64(len(log))+1 {
				return nil, violation("gap-free-log", "after seq %d the log has seq %d", len(log), c.Seq)
			}
			log = append(log, c)
		}
		if len(page) < 1000 {
			break
		}
	}
	if int64(len(log)) != head {
		return nil, violation("gap-free-log", "log holds %d changes, head is %d", len(log), head)
	}
	ids := make(map[string]int64, len(log))
	for _, c := range log {
		if prev, dup := ids[c.ID]; dup {
			return nil, violation("unique-change-id", "change %s at seq %d and %d", c.ID, prev, c.Seq)
		}
		ids[c.ID] = c.Seq
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range w.resultSeq {
			if !yield(id) {
				return
			}
		}
	}) {
		if seq := w.resultSeq[id]; ids[id] != seq {
			return nil, violation("push-result", "hub answered change %s with seq %d, the log has it at %d", id, seq, ids[id])
		}
	}
	return log, nil
}

// cleanClient is a client for e's credential over a link with no faults (the oracle's view).
func (w *world) cleanClient(e *edgeNode) *client.Client {
	c := client.New("http://hub.sim", e.token)
	c.HTTP = &http.Client{Transport: &transport{hub: func() http.Handler { return w.hub.handler }}}
	return c
}

// inScope reports whether a change is in the pull scope of zones.
func inScope(c domain.Change, zones []string) bool { return slices.Contains(zones, c.Zone) }

// checkDuringRun checks the log and that pulling from a random cursor returns every later
// change in scope exactly once, in order (invariant 3).
func (w *world) checkDuringRun(ctx context.Context) error {
	log, err := w.hubLog(ctx)
	if err != nil {
		return err
	}
	e := w.pickEdge()
	from := int64(w.rng.IntN(len(log) + 1))
	limit := 1 + w.rng.IntN(40)
	c := w.cleanClient(e)
	var got []int64
	cur := from
	for range 10000 {
		page, err := c.Pull(ctx, cur, limit)
		if err != nil {
			return violation("pull", "%s pull from %d: %v", e.name, cur, err)
		}
		for _, ch := range page.Changes {
			got = append(got, ch.Seq)
			if !inScope(ch, e.zones) {
				return violation("scope", "%s pulled change %s of zone %q", e.name, ch.ID, ch.Zone)
			}
		}
		cur = page.NextCursor
		if !page.HasMore {
			break
		}
	}
	var want []int64
	for _, ch := range log[from:] {
		if inScope(ch, e.zones) {
			want = append(want, ch.Seq)
		}
	}
	if !slices.Equal(got, want) {
		return violation("pull-exactly-once", "%s pulling from %d (limit %d) got seqs %v, want %v", e.name, from, limit, got, want)
	}
	w.logf("check: %d changes in the log; %s pulled %d from %d exactly once", len(log), e.name, len(got), from)
	return nil
}

// heal ends every partition and fault, then lets every edge push and pull until a whole
// round changes nothing.
func (w *world) heal(ctx context.Context) error {
	for _, e := range w.edges {
		e.tr.partitioned, e.partitionLeft, e.tr.next = false, 0, faultNone
	}
	w.logf("heal: all partitions healed")
	for round := range 40 {
		progress := false
		for _, e := range w.edges {
			for range 1000 {
				n, err := e.pushOnce(ctx)
				if err != nil {
					return violation("heal", "%s push: %v", e.name, err)
				}
				if n == 0 {
					break
				}
				progress = true
			}
		}
		for _, e := range w.edges {
			for range 10000 {
				before, err := e.store.Cursor(ctx)
				if err != nil {
					return err
				}
				page, err := e.pullOnce(ctx, nil)
				if err != nil {
					return violation("heal", "%s pull: %v", e.name, err)
				}
				if page == nil { // reset after a cursor beyond the log
					progress = true
					continue
				}
				if page.NextCursor > before {
					progress = true
				}
				if !page.HasMore {
					break
				}
			}
		}
		w.logf("heal: round %d, progress %v", round, progress)
		if !progress {
			return nil
		}
	}
	return violation("quiescence", "edges still changing after 40 healing rounds")
}

// oracle checks the invariants after healing.
func (w *world) oracle(ctx context.Context) error {
	log, err := w.hubLog(ctx)
	if err != nil {
		return err
	}
	w.rep.HubHead = int64(len(log))
	for _, e := range w.edges {
		w.rep.Requests += e.tr.requests
	}
	if err := w.checkSkewBounded(log); err != nil {
		return err
	}
	if err := w.checkDigests(ctx, log); err != nil {
		return err
	}
	if err := w.checkAcked(ctx, log); err != nil {
		return err
	}
	byRow := map[syncstore.RowKey][]domain.Change{}
	var keys []syncstore.RowKey
	for _, c := range log {
		k := syncstore.RowKey{Entity: c.Entity, ID: c.EntityID}
		if _, ok := byRow[k]; !ok {
			keys = append(keys, k)
		}
		byRow[k] = append(byRow[k], c)
	}
	rows := make(map[syncstore.RowKey]merge.Row, len(keys))
	for _, k := range keys {
		r, err := merge.Replay(byRow[k])
		if err != nil {
			return fmt.Errorf("replay %s %s: %w", k.Entity, k.ID, err)
		}
		rows[k] = r
	}
	if err := w.checkDeletes(ctx, keys, rows); err != nil {
		return err
	}
	if err := w.checkMaterialized(ctx, keys, rows); err != nil {
		return err
	}
	return w.checkConflicts(ctx, keys, rows, log)
}

// checkSkewBounded: no clock in the hub's log is more than the hub's max skew ahead of the
// hub's wall clock (invariant 5): edges whose clocks ran far ahead were clamped.
func (w *world) checkSkewBounded(log []domain.Change) error {
	bound := w.now.Add(hlc.DefaultMaxSkew).UnixMilli()
	for _, c := range log {
		ts, err := hlc.Parse(c.HLC)
		if err != nil {
			return violation("skew-bounded", "change %s (seq %d) has clock %q: %v", c.ID, c.Seq, c.HLC, err)
		}
		if ts.Wall > bound {
			return violation("skew-bounded", "change %s (seq %d) from %s has clock %s, %s ahead of the hub's wall clock",
				c.ID, c.Seq, c.Origin, c.HLC, time.UnixMilli(ts.Wall).Sub(w.now))
		}
	}
	return nil
}

// checkDigests: every edge's digest of each of its zones equals the hub's (invariant 4).
func (w *world) checkDigests(ctx context.Context, log []domain.Change) error {
	for _, z := range zoneNames {
		snap, err := w.hub.store.Snapshot(ctx, []string{z})
		if err != nil {
			return err
		}
		want := merge.DigestStates(snap.States())
		for _, e := range w.edges {
			if !slices.Contains(e.zones, z) {
				continue
			}
			if d, err := w.cleanClient(e).Digest(ctx, z); err != nil {
				return violation("digest", "hub digest of %s for %s: %v", z, e.name, err)
			} else if d.Digest != want {
				return violation("digest", "hub answers digest %s for %s over HTTP, its snapshot gives %s", d.Digest, z, want)
			}
			got, err := e.store.Digest(ctx, z)
			if err != nil {
				return err
			}
			if got.Digest != want {
				return violation("convergence", "%s digest of zone %s is %s (%d rows, cursor %d), hub's %s (%d rows, cursor %d)%s",
					e.name, z, got.Digest, got.Rows, got.Cursor, want, len(snap.Rows), snap.Cursor, w.diffRows(ctx, e, snap.Rows))
			}
		}
	}
	return nil
}

// diffRows describes how an edge's rows differ from the hub's, for a failure message.
func (w *world) diffRows(ctx context.Context, e *edgeNode, hubRows []merge.Row) string {
	var b strings.Builder
	n := 0
	for _, hr := range hubRows {
		er, err := e.store.Row(ctx, hr.Entity, hr.ID)
		if err != nil {
			fmt.Fprintf(&b, "\n  %s %s: edge read error %v", hr.Entity, hr.ID, err)
			continue
		}
		hs, es := hr.State(), er.State()
		if merge.DigestStates([]merge.State{hs}) == merge.DigestStates([]merge.State{es}) {
			continue
		}
		if n++; n > 5 {
			b.WriteString("\n  …")
			break
		}
		fmt.Fprintf(&b, "\n  %s %s: hub deleted=%v, edge deleted=%v, hub has %d changes, edge %d", hr.Entity, hr.ID, hs.Deleted, es.Deleted, len(hr.Changes), len(er.Changes))
		for _, f := range slices.Sorted(func(yield func(string) bool) {
			for f := range hs.Fields {
				if !yield(f) {
					return
				}
			}
			for f := range es.Fields {
				if _, ok := hs.Fields[f]; !ok && !yield(f) {
					return
				}
			}
		}) {
			hv, _ := merge.Canonical(hs.Fields[f])
			ev, _ := merge.Canonical(es.Fields[f])
			if string(hv) != string(ev) {
				fmt.Fprintf(&b, "\n    %s: hub %s, edge %s", f, hv, ev)
			}
		}
	}
	return b.String()
}

// deadLetters are every edge's dead letters by change id.
func (w *world) deadLetters(ctx context.Context) (map[string]edgesqlite.DeadLetter, error) {
	out := map[string]edgesqlite.DeadLetter{}
	for _, e := range w.edges {
		dl, err := e.store.DeadLetters(ctx, 1<<20)
		if err != nil {
			return nil, err
		}
		for _, d := range dl {
			out[d.Change.ID] = d
		}
	}
	return out, nil
}

// checkAcked: every write acknowledged on an edge is in the hub's log exactly once, or in the
// edge's dead-letter list with a reason — never both, never neither (invariants 1 and 2).
func (w *world) checkAcked(ctx context.Context, log []domain.Change) error {
	inLog := make(map[string]bool, len(log))
	for _, c := range log {
		inLog[c.ID] = true
	}
	for _, e := range w.edges {
		st, err := e.store.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Pending != 0 {
			return violation("quiescence", "%s still has %d pending changes after healing", e.name, st.Pending)
		}
		dl, err := e.store.DeadLetters(ctx, 1<<20)
		if err != nil {
			return err
		}
		dead := map[string]string{}
		for _, d := range dl {
			dead[d.Change.ID] = string(d.Code) + ": " + d.Reason
			if d.Reason == "" {
				return violation("dead-letter-reason", "%s dead-lettered %s without a reason", e.name, d.Change.ID)
			}
		}
		for _, id := range e.acked {
			reason, isDead := dead[id]
			switch {
			case inLog[id] && isDead:
				return violation("acked-write", "%s change %s is in the hub log and dead-lettered (%s)", e.name, id, reason)
			case !inLog[id] && !isDead:
				return violation("acked-write", "%s change %s was acknowledged to a user but is neither in the hub log nor dead-lettered", e.name, id)
			}
			if isDead {
				w.rep.Dead++
			}
		}
		w.rep.Acked += len(e.acked)
	}
	return nil
}

// checkDeletes: a deleted row stays deleted on the hub and on every edge holding its zone.
func (w *world) checkDeletes(ctx context.Context, keys []syncstore.RowKey, rows map[syncstore.RowKey]merge.Row) error {
	for _, k := range keys {
		r := rows[k]
		if k.Entity != domain.EntityTicket || r.Deleted == nil {
			continue
		}
		if t, err := w.hub.store.GetTicket(ctx, k.ID); domain.ErrorCode(err) != domain.CodeNotFound {
			return violation("no-resurrection", "ticket %s was deleted by change %s, hub GetTicket answers %+v, %v", k.ID, r.Deleted.Change, t.Status, err)
		}
		zone := w.zoneOf(k.ID)
		for _, e := range w.edges {
			if !slices.Contains(e.zones, zone) {
				continue
			}
			if _, err := e.store.GetTicket(ctx, k.ID); domain.ErrorCode(err) != domain.CodeNotFound {
				return violation("no-resurrection", "ticket %s was deleted by change %s, %s still serves it (%v)", k.ID, r.Deleted.Change, e.name, err)
			}
		}
	}
	return nil
}

func (w *world) zoneOf(id string) string {
	for _, t := range w.tickets {
		if t.id == id {
			return t.zone
		}
	}
	return ""
}

// checkMaterialized: the hub's typed ticket rows hold what merge.Replay of their log gives.
func (w *world) checkMaterialized(ctx context.Context, keys []syncstore.RowKey, rows map[syncstore.RowKey]merge.Row) error {
	for _, k := range keys {
		r := rows[k]
		if k.Entity != domain.EntityTicket || r.Deleted != nil {
			continue
		}
		t, err := w.hub.store.GetTicket(ctx, k.ID)
		if err != nil {
			return violation("materialized", "ticket %s: %v", k.ID, err)
		}
		b, _ := json.Marshal(t)
		var m map[string]json.RawMessage
		json.Unmarshal(b, &m)
		for f, v := range r.Fields {
			want, _ := merge.Canonical(v.Value)
			got, ok := m[f]
			if !ok {
				got = json.RawMessage("null")
			}
			got, _ = merge.Canonical(got)
			if string(want) != string(got) {
				return violation("materialized", "ticket %s field %s: typed row has %s, replay of the log gives %s; its writes:%s",
					k.ID, f, got, want, fieldWrites(r, f))
			}
		}
	}
	return nil
}

type conflictKey struct {
	entityID, field, change string
	kind                    merge.Kind
}

// checkConflicts: the hub's conflict records are exactly the conflicts merge finds in the log
// (lost writes are recorded, not silently dropped), and each concurrent edit of one field on
// two edges that the other write overwrote directly has a record.
func (w *world) checkConflicts(ctx context.Context, keys []syncstore.RowKey, rows map[syncstore.RowKey]merge.Row, log []domain.Change) error {
	stored := map[conflictKey]syncstore.Conflict{}
	f := syncstore.ConflictFilter{Limit: 500}
	for {
		page, err := w.hub.store.ListConflicts(ctx, f)
		if err != nil {
			return err
		}
		for _, c := range page.Items {
			stored[conflictKey{c.EntityID, c.Field, c.Change, c.Kind}] = c
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	w.rep.Conflicts = len(stored)
	want := map[conflictKey]bool{}
	for _, k := range keys {
		for _, c := range rows[k].Conflicts {
			ck := conflictKey{c.EntityID, c.Field, c.Change, c.Kind}
			want[ck] = true
			if _, ok := stored[ck]; !ok {
				return violation("conflict-recorded", "merge of the log finds conflict %+v; the hub has no record of it", c)
			}
		}
	}
	byID := make(map[string]domain.Change, len(log))
	for _, c := range log {
		byID[c.ID] = c
	}
	var dead map[string]edgesqlite.DeadLetter
	for ck, c := range stored {
		if ck.kind == merge.KindRefused {
			// Not merge's: the hub refused the change at push, so it is not in the log, and
			// the edge that pushed it holds it as a conflict in its dead letters.
			if dead == nil {
				var err error
				if dead, err = w.deadLetters(ctx); err != nil {
					return err
				}
			}
			d, isDead := dead[ck.change]
			if c.Resolution == "withdrawn" {
				// Sent again after a lost answer and accepted: the push that logged it
				// withdrew the record.
				if byID[ck.change].ID == "" {
					return violation("conflict-recorded", "hub withdrew the refusal of %s (%s), which is not in the log", ck.change, ck.field)
				}
				continue
			}
			switch {
			case byID[ck.change].ID != "":
				return violation("conflict-recorded", "hub records change %s as refused (%s), yet it is in the log", ck.change, ck.field)
			case !isDead || d.Code != domain.CodeConflict:
				return violation("conflict-recorded", "hub records change %s as refused (%s); no edge dead-lettered it as a conflict (%+v)", ck.change, ck.field, d)
			}
			want, _ := merge.Canonical(d.Change.Patch[ck.field])
			got, _ := merge.Canonical(c.Value)
			if string(want) != string(got) {
				return violation("conflict-recorded", "refused change %s: the record keeps %s for %s, the change wrote %s", ck.change, got, ck.field, want)
			}
			w.rep.Refused++
			continue
		}
		if !want[ck] && c.Resolution != "withdrawn" {
			return violation("conflict-recorded", "hub records conflict %+v (resolution %q) that merge of the log does not find", ck, c.Resolution)
		}
	}
	for _, p := range w.pairs {
		ca, okA := byID[p.a]
		cb, okB := byID[p.b]
		if !okA || !okB {
			continue // one was dead-lettered
		}
		va, _ := merge.Canonical(ca.Patch[p.field])
		vb, _ := merge.Canonical(cb.Patch[p.field])
		if string(va) == string(vb) {
			continue
		}
		la, _ := merge.VersionOf(ca)
		lb, _ := merge.VersionOf(cb)
		loser, winner, lv, wv := ca, cb, la, lb
		if la.Compare(lb) > 0 {
			loser, winner, lv, wv = cb, ca, lb, la
		}
		row := rows[syncstore.RowKey{Entity: domain.EntityTicket, ID: p.ticket}]
		if fv, ok := row.Fields[p.field]; !ok || fv.Version.Change != winner.ID {
			continue // something else decided the field
		}
		between := false
		for _, c := range byID {
			if c.EntityID != p.ticket || c.Patch[p.field] == nil {
				continue
			}
			if v, _ := merge.VersionOf(c); v.Compare(lv) > 0 && v.Compare(wv) < 0 {
				between = true
			}
		}
		if between {
			continue
		}
		found := false
		for ck := range stored {
			if ck.entityID == p.ticket && ck.field == p.field && ck.change == loser.ID {
				found = true
			}
		}
		if !found {
			return violation("conflict-recorded", "concurrent writes of %s.%s: %s (%s) lost to %s (%s) and no conflict record names it",
				p.ticket, p.field, loser.ID, loser.Origin, winner.ID, winner.Origin)
		}
	}
	return nil
}

// fieldWrites lists the changes of a row that write field (or status, or delete it), for a
// failure message.
func fieldWrites(r merge.Row, field string) string {
	var b strings.Builder
	for _, c := range r.Changes {
		if _, ok := c.Patch[field]; ok || c.Op == domain.OpDelete || c.Patch["status"] != nil {
			p, _ := json.Marshal(c.Patch)
			if len(p) > 300 {
				p = append(p[:300], "…"...)
			}
			fmt.Fprintf(&b, "\n  %s %s origin %s hlc %s base %v: %s", c.ID, c.Op, c.Origin, c.HLC, c.Base, p)
		}
	}
	return b.String()
}
