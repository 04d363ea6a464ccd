package syncstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

// RowKey names one row of the hub: an entity and its id (a zone's id, not its name).
type RowKey struct {
	Entity domain.Entity
	ID     string
}

// Tx is what Push needs of a store's write transaction; every method runs inside it.
// Typed rows are domain.Ticket, domain.Team, domain.User or domain.Zone values.
type Tx interface {
	// KnownChanges returns the log seq of each of ids that is already in the log.
	KnownChanges(ctx context.Context, ids []string) (map[string]int64, error)
	// LoggedClocks returns the logged hlc of each of ids that is in the log. Push asks it
	// only for re-sent changes, to answer one it clamped with its clock again.
	LoggedClocks(ctx context.Context, ids []string) (map[string]string, error)
	// LockRows returns the typed rows of keys that exist (tombstones included), locked
	// against other writers until the transaction ends.
	LockRows(ctx context.Context, keys []RowKey) (map[RowKey]any, error)
	// RowChanges returns every logged change of each row (HLC and Base included), any order.
	RowChanges(ctx context.Context, keys []RowKey) (map[RowKey][]domain.Change, error)
	// ZoneExists reports whether a zone of that name exists.
	ZoneExists(ctx context.Context, name string) (bool, error)
	// Team returns a live (not deleted) team; ok is false if there is none.
	Team(ctx context.Context, id string) (t domain.Team, ok bool, err error)
	// TakeTicketNumbers returns n new ticket numbers, increasing. They need not be
	// consecutive, and a number taken by a transaction that rolls back may stay unused: a
	// store may hand numbers out as a sequence does, without a lock held to the commit.
	TakeTicketNumbers(ctx context.Context, n int) ([]int64, error)
	// TicketNotes returns the ids of the notes of a ticket (tombstones included).
	TicketNotes(ctx context.Context, ticketID string) ([]string, error)
	// Write stores w (see Write) and returns the log head after it.
	Write(ctx context.Context, w *Write) (head int64, err error)
}

// Write is the outcome of a push for the store to persist in its transaction.
type Write struct {
	Now time.Time
	// Rows are the new typed values of every row the batch touched, at most one per key, in
	// first-touched order. Old is the row as it was (nil: insert it).
	Rows []Put
	// Changes are appended to the log in order; Write sets each Seq from the change_seq
	// counter (gap-free, taken last to hold its lock briefly).
	Changes []domain.Change
	// Conflicts are new conflict records; Write sets Conflict.Seq from Changes[Change].Seq.
	Conflicts []NewConflict
	// Withdrawn are earlier records that no longer hold: mark them resolved "withdrawn".
	// A store also withdraws every open record of kind refused whose change it appends
	// (EdgeMade): the change was refused once, its answer lost, and is accepted now.
	Withdrawn []merge.Conflict
}

// EdgeMade returns the ids of the changes of cs not made by the hub: those a push may have
// refused before (the hub records no refusal of its own changes).
func EdgeMade(cs []domain.Change) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.Origin != domain.HubOrigin {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Put is one typed row write.
type Put struct {
	Key    RowKey
	Row    any   // new value
	Old    any   // previous value, nil for a new row
	Number int64 // tickets: the number behind ticket_number (0 if none yet)
}

// NewConflict is a conflict record to insert and the index of the change that produced it,
// or -1 for a change the push refused (its record takes the log head after the write).
type NewConflict struct {
	Conflict Conflict
	Change   int
}

// fieldEditable are the ticket fields a field user may push: status (and the times its
// transitions set) and the customer rating, as in the REST API.
var fieldEditable = []string{"status", "customer_rating", "updated_at", "started_at", "resolved_at", "closed_at"}

var fieldStatuses = []domain.Status{domain.StatusInProgress, domain.StatusOnHold, domain.StatusResolved}

// scope is what a principal may push to.
type scope struct {
	all   bool
	zones map[string]bool
	team  string // field user: own team id
}

func scopeOf(p domain.Principal) (scope, error) {
	switch {
	case p.Role == domain.RoleAdmin || p.Role == domain.RoleDispatcher:
		return scope{all: true}, nil
	case p.Role == domain.RoleField:
		if p.TeamID == "" {
			return scope{}, domain.Errorf(domain.CodeForbidden, "a field user needs a team to push")
		}
		return scope{team: p.TeamID}, nil
	case p.Role == "" && p.Node != "" && len(p.Zones) > 0:
		sc := scope{zones: map[string]bool{}}
		for _, z := range p.Zones {
			sc.zones[z] = true
		}
		return sc, nil
	}
	return scope{}, domain.Errorf(domain.CodeForbidden, "role %q may not push changes", p.Role)
}

func (sc scope) zoneOK(z string) bool { return sc.all || sc.zones[z] }

// pusher holds one Push call's state.
type pusher struct {
	tx    Tx
	clock *hlc.Clock
	now   time.Time
	sc    scope
	// hubMade: the hub's own changes (API writes, resolutions), whose refusals go back to
	// the caller rather than into conflict records.
	hubMade bool

	rows   map[RowKey]any       // current typed rows, updated as changes are accepted
	orig   map[RowKey]any       // rows as loaded (nil entry: new)
	states map[RowKey]merge.Row // merge state per row
	// owned marks the states this push built (Apply copies what it changes, so their
	// Fields maps are this push's alone): the hub's follow-up changes to them, which are
	// always accepted, are applied in place (merge.ApplyOwned).
	owned        map[RowKey]bool
	order        []RowKey // first-touched order of written rows
	touched      map[RowKey]bool
	numbers      map[RowKey]int64
	zones        map[string]bool // zone existence cache
	pendingZones map[string]bool // zones created by this batch
	unnumbered   []RowKey        // tickets made off the hub and accepted, to number before the write
	numbering    map[RowKey]bool // the keys in unnumbered
	teams        map[string]*domain.Team
	tickets      map[string]*domain.Ticket // tickets of notes not touched by the batch (notes.go)
	horizon      string                    // compaction horizon clock, for rows loaded mid-batch
	w            Write
}

// Push takes in a batch of changes from p inside tx, following sync/PROTOCOL.md §4 and the
// hub design: per change, in order, a change already in the log is a duplicate; otherwise it
// must be in p's scope (the row's zone before, the zone it sets after; a field user only own
// team's tickets, status and rating; anything else fails the whole batch with CodeForbidden);
// its clock updates the hub clock, or is clamped to a fresh hub reading when it is more than
// the clock's MaxSkew ahead; merge applies it to the row's logged changes; the merged typed
// row must be canonical, valid, refer to live rows and (tickets) follow a legal status
// transition, else the change is rejected and changes nothing. Accepted changes are appended
// as received (same id, origin, actor, patch, base, clock unless clamped) with the row's zone,
// conflicts merge reports are recorded, and a ticket created off the hub gets its number in a
// hub change appended after the batch's changes. clock must be the store's hub clock.
func Push(ctx context.Context, tx Tx, clock *hlc.Clock, now time.Time, p domain.Principal, changes []domain.Change) (wire.PushResponse, error) {
	sc, err := scopeOf(p)
	if err != nil {
		return wire.PushResponse{}, err
	}
	return push(ctx, tx, clock, now, sc, changes, false)
}

func push(ctx context.Context, tx Tx, clock *hlc.Clock, now time.Time, sc scope, changes []domain.Change, hubMade bool) (wire.PushResponse, error) {
	ps := &pusher{tx: tx, clock: clock, now: now, sc: sc, hubMade: hubMade, numbers: map[RowKey]int64{}, touched: map[RowKey]bool{},
		zones: map[string]bool{}, teams: map[string]*domain.Team{}, w: Write{Now: now, Changes: make([]domain.Change, 0, len(changes))},
		pendingZones: map[string]bool{}}
	ids := make([]string, len(changes))
	var keys []RowKey
	seenKey := map[RowKey]bool{}
	for i, c := range changes {
		ids[i] = c.ID
		k := RowKey{c.Entity, c.EntityID}
		if !seenKey[k] {
			seenKey[k] = true
			keys = append(keys, k)
		}
	}
	if pf, ok := tx.(Prefetcher); ok {
		if err := pf.Prefetch(ctx, ids, keys); err != nil {
			return wire.PushResponse{}, err
		}
	}
	known, err := tx.KnownChanges(ctx, ids)
	if err != nil {
		return wire.PushResponse{}, err
	}
	horizon, err := compactionState(ctx, tx, ids, known) // dropped ids are duplicates too
	if err != nil {
		return wire.PushResponse{}, err
	}
	if ps.rows, err = tx.LockRows(ctx, keys); err != nil {
		return wire.PushResponse{}, err
	}
	var purged map[RowKey]bool // rows whose tombstones were collected (watermark.go)
	if pt, ok := tx.(PurgeTx); ok {
		if purged, err = pt.PurgedRows(ctx, keys); err != nil {
			return wire.PushResponse{}, err
		}
		gone, err := pt.PurgedChanges(ctx, ids)
		if err != nil {
			return wire.PushResponse{}, err
		}
		for id, seq := range gone {
			known[id] = seq
		}
	}
	ps.orig = make(map[RowKey]any, len(ps.rows))
	for k, v := range ps.rows {
		ps.orig[k] = v
	}
	states, stamps, err := loadStates(ctx, tx, keys, horizon.HLC)
	if err != nil {
		return wire.PushResponse{}, err
	}
	ps.states, ps.horizon = states, horizon.HLC
	clamped, err := reclamped(ctx, tx, changes, known)
	if err != nil {
		return wire.PushResponse{}, err
	}
	results := make([]wire.Result, len(changes))
	at := make([]int, len(changes)) // index into w.Changes of each accepted change
	inBatch := map[string]bool{}
	for i, c := range changes {
		results[i] = wire.Result{ID: c.ID}
		at[i] = -1
		if seq, ok := known[c.ID]; ok {
			results[i].Status, results[i].Seq = wire.Duplicate, seq
			if h, ok := clamped[c.ID]; ok {
				results[i].Status, results[i].HLC = wire.Clamped, h
			}
			continue
		}
		if inBatch[c.ID] {
			return wire.PushResponse{}, domain.FieldErrorf(fmt.Sprintf("changes[%d].id", i), "change %s appears twice", c.ID)
		}
		inBatch[c.ID] = true
		if err := ps.checkScope(ctx, i, c); err != nil {
			return wire.PushResponse{}, err
		}
		if k := (RowKey{c.Entity, c.EntityID}); purged[k] {
			err := RejectPurged(k)
			results[i].Status, results[i].Code, results[i].Error = wire.Rejected, domain.ErrorCode(err), rejectText(err)
			ps.refused(ctx, c, err)
			continue
		}
		if err := belowHorizon(ps.states[RowKey{c.Entity, c.EntityID}], c, horizon, hubMade); err != nil {
			results[i].Status, results[i].Code, results[i].Error = wire.Rejected, domain.ErrorCode(err), rejectText(err)
			ps.refused(ctx, c, err)
			continue
		}
		status, idx, err := ps.apply(ctx, c, hubMade)
		if err != nil {
			if domain.ErrorCode(err) == domain.CodeInternal {
				return wire.PushResponse{}, err
			}
			results[i].Status, results[i].Code, results[i].Error = wire.Rejected, domain.ErrorCode(err), rejectText(err)
			ps.refused(ctx, c, err)
			continue
		}
		results[i].Status, at[i] = status, idx
		if status == wire.Clamped {
			results[i].HLC = ps.w.Changes[idx].HLC
		}
	}
	if err := ps.numberTickets(ctx); err != nil {
		return wire.PushResponse{}, err
	}
	for _, k := range ps.order {
		ps.w.Rows = append(ps.w.Rows, Put{Key: k, Row: ps.rows[k], Old: ps.orig[k], Number: ps.numbers[k]})
	}
	head, err := tx.Write(ctx, &ps.w)
	if err != nil {
		return wire.PushResponse{}, err
	}
	for i := range results {
		if at[i] >= 0 {
			results[i].Seq = ps.w.Changes[at[i]].Seq
		}
	}
	ps.remember(keys, stamps, horizon.HLC)
	return wire.PushResponse{Results: results, Cursor: head, HLC: clock.Now().String()}, nil
}

// reclamped returns the logged clock of each re-sent change of changes (one known holds)
// that the hub clamped when it first took it: a re-sent change is answered as it was the
// first time, so an origin whose first answer was lost still learns the clock every replica
// orders the change by. Until it does, it holds the change at its own clock, ahead of the
// hub's later changes to the row: a cancellation clamped on arrival would sort before the
// ticket's create, and its replica would show a ticket without fields.
func reclamped(ctx context.Context, tx Tx, changes []domain.Change, known map[string]int64) (map[string]string, error) {
	var ids []string
	for _, c := range changes {
		if _, ok := known[c.ID]; ok && c.Origin != domain.HubOrigin {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	logged, err := tx.LoggedClocks(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range changes {
		h, ok := logged[c.ID]
		if !ok || h == c.HLC {
			continue
		}
		if ts, err := hlc.Parse(h); err == nil && ts.Node == domain.HubOrigin {
			out[c.ID] = h
		}
	}
	return out, nil
}

// refused records a change the push refused for not fitting the row as the hub holds it
// (CodeConflict: an illegal status transition after a concurrent one, an edit below the
// compaction horizon or of a collected tombstone), so that a dispatcher sees on the hub what
// the edge only has in its dead letters, and can apply the value after all. The record is
// for the field the refusal names (status, for a transition), else one per patched field
// apart from the times an edit stamps. Changes refused as invalid are the sender's error,
// not a conflict, and refused deletes leave no value to restore; neither is recorded.
func (ps *pusher) refused(ctx context.Context, c domain.Change, err error) {
	if domain.ErrorCode(err) != domain.CodeConflict || ps.hubMade || c.Op != domain.OpUpsert {
		return
	}
	var fields []string
	if f := domain.ErrorField(err); c.Patch[f] != nil {
		fields = []string{f}
	} else {
		for _, f := range slices.Sorted(maps.Keys(c.Patch)) {
			if !stampedTimes[f] {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			fields = slices.Sorted(maps.Keys(c.Patch))
		}
	}
	zone := c.Zone
	if cur, ok := ps.rows[RowKey{c.Entity, c.EntityID}]; ok {
		if z, err := ps.zoneOf(ctx, cur); err == nil {
			zone = z
		}
	}
	for _, f := range fields {
		ps.w.Conflicts = append(ps.w.Conflicts, NewConflict{Change: -1, Conflict: Conflict{
			ID: domain.NewID(ps.now), Zone: zone, CreatedAt: ps.now,
			Conflict: merge.Conflict{Entity: c.Entity, EntityID: c.EntityID, Field: f, Kind: merge.KindRefused,
				Change: c.ID, Origin: c.Origin, Actor: c.Actor, HLC: c.HLC, Value: c.Patch[f]}}})
	}
}

// stampedTimes are the fields an edit or status move sets as a side effect.
var stampedTimes = map[string]bool{"updated_at": true, "started_at": true, "resolved_at": true, "closed_at": true}

// rejectText is the person-readable reason of a rejection, naming the field.
func rejectText(err error) string {
	msg := domain.ErrorMessage(err)
	if f := domain.ErrorField(err); f != "" {
		msg += " (field " + f + ")"
	}
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	return msg
}

func forbidden(i int, format string, args ...any) error {
	return &domain.Error{Code: domain.CodeForbidden, Field: fmt.Sprintf("changes[%d]", i), Message: fmt.Sprintf(format, args...)}
}

// checkScope enforces the caller's scope on change i: the row's zone now, the zone the change
// declares and the zone it sets. Failing it fails the whole batch.
func (ps *pusher) checkScope(ctx context.Context, i int, c domain.Change) error {
	if ps.sc.all {
		return nil
	}
	k := RowKey{c.Entity, c.EntityID}
	cur, exists := ps.rows[k]
	if ps.sc.team != "" { // field user
		if c.Entity == domain.EntityNote {
			return ps.checkFieldNote(ctx, i, c, exists)
		}
		if c.Entity != domain.EntityTicket || !exists || c.Op != domain.OpUpsert {
			return forbidden(i, "field users may only update their team's tickets")
		}
		t := cur.(domain.Ticket)
		if t.AssignedTeam == nil || *t.AssignedTeam != ps.sc.team {
			return forbidden(i, "ticket %s is not assigned to your team", c.EntityID)
		}
		for f, v := range c.Patch {
			if !slices.Contains(fieldEditable, f) {
				return forbidden(i, "field users may change only status and customer_rating, not %s", f)
			}
			if f == "status" {
				var st domain.Status
				if json.Unmarshal(v, &st) != nil || !slices.Contains(fieldStatuses, st) {
					return forbidden(i, "field users may not set status %s", string(v))
				}
			}
		}
		return nil
	}
	if exists {
		z, err := ps.zoneOf(ctx, cur)
		if err != nil {
			return err
		}
		if !ps.sc.zoneOK(z) {
			return forbidden(i, "%s %s is in zone %q, outside your zones", c.Entity, c.EntityID, z)
		}
	}
	if c.Zone != "" && !ps.sc.zoneOK(c.Zone) {
		return forbidden(i, "zone %q is outside your zones", c.Zone)
	}
	if c.Entity == domain.EntityNote {
		if err := ps.checkNoteScope(ctx, i, c, cur, exists); err != nil {
			return err
		}
	}
	var sets []string
	switch c.Entity {
	case domain.EntityTicket, domain.EntityTeam, domain.EntityNote:
		if v, ok := c.Patch["zone"]; ok {
			var z string
			json.Unmarshal(v, &z)
			sets = append(sets, z)
		}
	case domain.EntityZone:
		if v, ok := c.Patch["name"]; ok {
			var z string
			json.Unmarshal(v, &z)
			sets = append(sets, z)
		}
	case domain.EntityUser:
		if v, ok := c.Patch["team_id"]; ok {
			var id *string
			json.Unmarshal(v, &id)
			z := ""
			if id != nil {
				if tm, err := ps.team(ctx, *id); err != nil {
					return err
				} else if tm != nil {
					z = tm.Zone
				}
			}
			sets = append(sets, z)
		}
	}
	for _, z := range sets {
		if !ps.sc.zoneOK(z) {
			return forbidden(i, "zone %q is outside your zones", z)
		}
	}
	return nil
}

// zoneOf is the scope zone of a typed row (a user's is its team's).
func (ps *pusher) zoneOf(ctx context.Context, row any) (string, error) {
	switch r := row.(type) {
	case domain.Ticket:
		return r.Zone, nil
	case domain.Team:
		return r.Zone, nil
	case domain.Zone:
		return r.Name, nil
	case domain.Note:
		return r.Zone, nil
	case domain.User:
		if r.TeamID == nil {
			return "", nil
		}
		tm, err := ps.team(ctx, *r.TeamID)
		if err != nil || tm == nil {
			return "", err
		}
		return tm.Zone, nil
	}
	return "", fmt.Errorf("zone of %T: unknown row type", row)
}

// team returns the live team id as the batch sees it (nil if none).
func (ps *pusher) team(ctx context.Context, id string) (*domain.Team, error) {
	if r, ok := ps.rows[RowKey{domain.EntityTeam, id}]; ok {
		t := r.(domain.Team)
		if t.DeletedAt != nil {
			return nil, nil
		}
		return &t, nil
	}
	if t, ok := ps.teams[id]; ok {
		return t, nil
	}
	t, ok, err := ps.tx.Team(ctx, id)
	if err != nil {
		return nil, err
	}
	var tp *domain.Team
	if ok {
		tp = &t
	}
	ps.teams[id] = tp
	return tp, nil
}

func (ps *pusher) zoneExists(ctx context.Context, name string) (bool, error) {
	if ps.pendingZones[name] {
		return true, nil
	}
	if ok, seen := ps.zones[name]; seen {
		return ok, nil
	}
	ok, err := ps.tx.ZoneExists(ctx, name)
	if err != nil {
		return false, err
	}
	ps.zones[name] = ok
	return ok, nil
}

// apply merges one new change and, if the merged row is acceptable, records it. It returns
// the result status and the change's index in w.Changes, or a domain error to reject it.
func (ps *pusher) apply(ctx context.Context, c domain.Change, hubMade bool) (wire.ResultStatus, int, error) {
	k := RowKey{c.Entity, c.EntityID}
	status := wire.Accepted
	if hubMade && c.HLC == "" {
		c.HLC, c.Base = Stamp(ps.clock, ps.states[k].Changes, c.Entity, c.Patch)
	}
	ts, err := hlc.Parse(c.HLC)
	if err != nil {
		return "", 0, domain.FieldErrorf("hlc", "a pushed change needs a valid hlc")
	}
	if !hubMade {
		if _, err := ps.clock.Update(ts); err != nil {
			var se *hlc.SkewError
			if !errors.As(err, &se) {
				return "", 0, err
			}
			// Clamp (PROTOCOL.md §3): accept with a fresh hub reading; bases that are not
			// before it cannot be kept, since every base must precede the change's clock.
			c.HLC = ps.clock.Now().String()
			for f, b := range c.Base {
				if b >= c.HLC {
					delete(c.Base, f)
				}
			}
			status = wire.Clamped
		}
	}
	c.Seq, c.At = 0, c.At.UTC()
	if c.Op == domain.OpDelete {
		c.Patch = nil
	}
	if len(c.Base) == 0 {
		c.Base = nil
	}
	row, res, err := merge.Apply(ps.states[k], c)
	if err != nil {
		return "", 0, err
	}
	cur, exists := ps.rows[k]
	typed, err := ps.materialize(ctx, k, cur, exists, row, res, c)
	if err != nil {
		return "", 0, err
	}
	zone, err := ps.zoneOf(ctx, typed)
	if err != nil {
		return "", 0, err
	}
	c.Zone = zone
	ps.accept(k, typed, row, res, c)
	idx := len(ps.w.Changes) - 1

	// A ticket made off the hub gets its number from the hub (numberTickets, once the
	// batch is merged).
	if t, ok := typed.(domain.Ticket); ok && t.DeletedAt == nil && t.Number == "" && !ps.numbering[k] {
		if ps.numbering == nil {
			ps.numbering = map[RowKey]bool{}
		}
		ps.numbering[k] = true
		ps.unnumbered = append(ps.unnumbered, k)
	}
	if err := ps.followZones(ctx, k, cur, exists, typed); err != nil {
		return "", 0, err
	}
	return status, idx, nil
}

// numberTickets gives each ticket the batch created off the hub, and that is still live, its
// number: as a hub change that every replica merges like any other, appended after the
// batch's own changes. The numbers are taken at once after all the merging, so no number is
// taken for a create that was rejected, and a store whose counter is a locked row holds the
// lock only for the write, not for the batch's CPU work.
func (ps *pusher) numberTickets(ctx context.Context) error {
	var keys []RowKey
	for _, k := range ps.unnumbered {
		if t := ps.rows[k].(domain.Ticket); t.DeletedAt == nil && t.Number == "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ps.w.Changes = slices.Grow(ps.w.Changes, len(keys))
	nums, err := ps.tx.TakeTicketNumbers(ctx, len(keys))
	if err != nil {
		return err
	}
	if len(nums) != len(keys) {
		return fmt.Errorf("took %d ticket numbers, asked for %d", len(nums), len(keys))
	}
	for i, k := range keys {
		n := nums[i]
		t := ps.rows[k].(domain.Ticket)
		num, _ := json.Marshal(domain.TicketNumber(n))
		f := domain.Change{ID: domain.NewID(ps.now), Origin: domain.HubOrigin, Actor: "system", Entity: k.Entity,
			EntityID: k.ID, Op: domain.OpUpsert, Zone: t.Zone, Patch: map[string]json.RawMessage{"ticket_number": num}, At: ps.now}
		f.HLC, f.Base = Stamp(ps.clock, ps.states[k].Changes, f.Entity, f.Patch)
		apply := merge.Apply
		if ps.owned[k] {
			apply = merge.ApplyOwned
		}
		row, res, err := apply(ps.states[k], f)
		if err != nil {
			return fmt.Errorf("number ticket %s: %w", k.ID, err)
		}
		t.Number = domain.TicketNumber(n)
		ps.numbers[k] = n
		ps.accept(k, t, row, res, f)
	}
	return nil
}

// accept records an accepted change and its effects.
func (ps *pusher) accept(k RowKey, typed any, row merge.Row, res merge.Result, c domain.Change) {
	if !ps.touched[k] {
		ps.touched[k] = true
		ps.order = append(ps.order, k)
	}
	ps.states[k] = row
	if !res.Duplicate {
		if ps.owned == nil {
			ps.owned = map[RowKey]bool{}
		}
		ps.owned[k] = true
	}
	ps.rows[k] = typed
	if z, ok := typed.(domain.Zone); ok {
		ps.pendingZones[z.Name] = true
	}
	ps.w.Changes = append(ps.w.Changes, c)
	idx := len(ps.w.Changes) - 1
	for _, mc := range res.Conflicts {
		ps.w.Conflicts = append(ps.w.Conflicts, NewConflict{Change: idx, Conflict: Conflict{
			ID: domain.NewID(ps.now), Conflict: mc, Zone: c.Zone, CreatedAt: ps.now}})
	}
	ps.w.Withdrawn = append(ps.w.Withdrawn, res.Withdrawn...)
}

// Stamp gives a hub-made change of a row its clock and base: a fresh reading of clock (after
// every clock in prior, the row's logged changes) and, per patched field (and status for a
// ticket), the highest clock among prior, since the hub writes having seen the whole log.
func Stamp(clock *hlc.Clock, prior []domain.Change, entity domain.Entity, patch map[string]json.RawMessage) (string, map[string]string) {
	var top string
	for _, p := range prior {
		v, err := merge.VersionOf(p)
		if err == nil && v.HLC > top {
			top = v.HLC
		}
	}
	if top != "" {
		if ts, err := hlc.Parse(top); err == nil {
			clock.Observe(ts)
		}
	}
	now := clock.Now().String()
	if top == "" || len(patch) == 0 {
		return now, nil
	}
	base := make(map[string]string, len(patch)+1)
	for f := range patch {
		base[f] = top
	}
	if entity == domain.EntityTicket {
		base["status"] = top
	}
	return now, base
}
