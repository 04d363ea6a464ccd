package syncstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// materialize computes the typed row after change c from the merged row: the current typed
// row with every visible field of the merge state laid over it (fields merge no longer has
// a value for become null), checked for canonical values, validity and live references.
func (ps *pusher) materialize(ctx context.Context, k RowKey, cur any, exists bool, row merge.Row, res merge.Result, c domain.Change) (any, error) {
	visible := visibleFields(row, res)
	var deletedAt *time.Time
	if row.Deleted != nil {
		for _, ch := range row.Changes {
			if ch.ID == row.Deleted.Change {
				at := ch.At.UTC().Truncate(time.Microsecond)
				deletedAt = &at
			}
		}
	}
	if !exists && c.Op == domain.OpDelete {
		return nil, domain.Errorf(domain.CodeNotFound, "%s %s does not exist", k.Entity, k.ID)
	}
	switch k.Entity {
	case domain.EntityTicket:
		var old *domain.Ticket
		if exists {
			t := cur.(domain.Ticket)
			old = &t
		}
		patched, err := checkCanonical(old, c.Patch, NormalizeTicket)
		if err != nil {
			return nil, err
		}
		if v, ok := c.Patch["ticket_number"]; ok && c.Origin != domain.HubOrigin {
			var n string
			json.Unmarshal(v, &n)
			if (old != nil && old.Number != "" && n != old.Number) || (n != "" && (old == nil || old.Number == "")) {
				return nil, domain.FieldErrorf("patch.ticket_number", "ticket_number is given by the hub")
			}
		}
		t, err := overlayOrPatched(old, visible, c.Patch, patched)
		if err != nil {
			return nil, err
		}
		t = NormalizeTicket(t)
		t.ID, t.DeletedAt = k.ID, deletedAt
		if old != nil && t.Number == "" {
			t.Number = old.Number
		}
		if t.DeletedAt != nil {
			return t, nil
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if old == nil || old.Zone != t.Zone {
			if err := ps.requireZone(ctx, t.Zone); err != nil {
				return nil, err
			}
		}
		if t.AssignedTeam != nil && (old == nil || old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam) {
			tm, err := ps.team(ctx, *t.AssignedTeam)
			if err != nil {
				return nil, err
			}
			if tm == nil {
				return nil, domain.FieldErrorf("assigned_team", "unknown team %s", *t.AssignedTeam)
			}
			if !tm.IsActive {
				return nil, domain.FieldErrorf("assigned_team", "team %s is not active", *t.AssignedTeam)
			}
		}
		if old != nil && old.DeletedAt == nil && old.Status != t.Status && !old.Status.CanTransition(t.Status) {
			return nil, &domain.Error{Code: domain.CodeConflict, Field: "status",
				Message: "status " + string(t.Status) + " cannot follow " + string(old.Status)}
		}
		return t, nil

	case domain.EntityTeam:
		var old *domain.Team
		if exists {
			t := cur.(domain.Team)
			old = &t
		}
		patched, err := checkCanonical(old, c.Patch, NormalizeTeam)
		if err != nil {
			return nil, err
		}
		t, err := overlayOrPatched(old, visible, c.Patch, patched)
		if err != nil {
			return nil, err
		}
		t = NormalizeTeam(t)
		t.ID, t.DeletedAt = k.ID, deletedAt
		if old != nil {
			t.ActiveTickets = old.ActiveTickets
		}
		if t.DeletedAt != nil {
			return t, nil
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if old == nil || old.Zone != t.Zone {
			if err := ps.requireZone(ctx, t.Zone); err != nil {
				return nil, err
			}
		}
		return t, nil

	case domain.EntityNote:
		return ps.materializeNote(ctx, k, cur, exists, visible, deletedAt, c)

	case domain.EntityZone:
		if c.Op == domain.OpDelete || row.Deleted != nil {
			return nil, domain.Errorf(domain.CodeInvalid, "zones cannot be deleted through sync")
		}
		var old *domain.Zone
		if exists {
			z := cur.(domain.Zone)
			old = &z
		}
		patched, err := checkCanonical(old, c.Patch, NormalizeZone)
		if err != nil {
			return nil, err
		}
		z, err := overlayOrPatched(old, visible, c.Patch, patched)
		if err != nil {
			return nil, err
		}
		z = NormalizeZone(z)
		z.ID = k.ID
		if err := z.Validate(); err != nil {
			return nil, err
		}
		if old != nil && old.Name != z.Name {
			return nil, domain.FieldErrorf("name", "zones cannot be renamed through sync")
		}
		if old == nil {
			if ok, err := ps.zoneExists(ctx, z.Name); err != nil {
				return nil, err
			} else if ok {
				return nil, domain.Errorf(domain.CodeConflict, "zone %q already exists", z.Name)
			}
		}
		return z, nil

	case domain.EntityUser:
		if !exists {
			return nil, domain.Errorf(domain.CodeInvalid, "users are created on the hub, not through sync")
		}
		if c.Op == domain.OpDelete || row.Deleted != nil {
			return nil, domain.Errorf(domain.CodeInvalid, "users cannot be deleted through sync")
		}
		old := cur.(domain.User)
		patched, err := checkCanonical(&old, c.Patch, NormalizeUser)
		if err != nil {
			return nil, err
		}
		if _, ok := c.Patch["username"]; ok {
			var u string
			json.Unmarshal(c.Patch["username"], &u)
			if u != old.Username {
				return nil, domain.FieldErrorf("username", "usernames cannot be changed through sync")
			}
		}
		u, err := overlayOrPatched(&old, visible, c.Patch, patched)
		if err != nil {
			return nil, err
		}
		u = NormalizeUser(u)
		u.ID, u.PasswordHash, u.Username = k.ID, old.PasswordHash, old.Username
		if err := u.Validate(); err != nil {
			return nil, err
		}
		if u.TeamID != nil && (old.TeamID == nil || *old.TeamID != *u.TeamID) {
			if tm, err := ps.team(ctx, *u.TeamID); err != nil {
				return nil, err
			} else if tm == nil {
				return nil, domain.FieldErrorf("team_id", "unknown team %s", *u.TeamID)
			}
		}
		return u, nil
	}
	return nil, domain.FieldErrorf("entity", "unknown entity %q", k.Entity)
}

// visibleFields are the row's visible values as materialize lays them over the typed row:
// every field merge holds a value for, and null for a field whose value this change removed
// (its only write was rejected). Each name is yielded once.
func visibleFields(row merge.Row, res merge.Result) iter.Seq2[string, json.RawMessage] {
	return func(yield func(string, json.RawMessage) bool) {
		for f, v := range row.Fields {
			if !yield(f, v.Value) {
				return
			}
		}
		for _, f := range res.Removed {
			if _, held := row.Fields[f]; !held && !yield(f, jsonNull) {
				return
			}
		}
	}
}

var jsonNull = json.RawMessage("null")

// overlayOrPatched is overlay(cur, visible), reusing patched (checkCanonical's decode of
// patch over a zero row) when that is the same thing: a new row whose visible fields are
// exactly its patch, as for a create.
func overlayOrPatched[T any](cur *T, visible iter.Seq2[string, json.RawMessage], patch map[string]json.RawMessage, patched T) (T, error) {
	if cur == nil && len(patch) > 0 {
		same, n := true, 0
		for k, v := range visible {
			n++
			if pv, ok := patch[k]; !ok || !bytes.Equal(pv, v) {
				same = false
				break
			}
		}
		if same && n == len(patch) {
			return patched, nil
		}
	}
	return overlayFrom(cur, visible, patch, &patched)
}

func (ps *pusher) requireZone(ctx context.Context, name string) error {
	ok, err := ps.zoneExists(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return domain.FieldErrorf("zone", "unknown zone %q", name)
	}
	return nil
}

// overlay returns cur (zero if nil) with fields laid over its JSON form: as if cur were
// encoded, fields were laid over that object and the result decoded into a zero T (a field in
// neither stays zero). A value of the wrong JSON type is CodeInvalid naming the field. A
// name fields yields twice counts once, with its last value.
//
// It decodes only what it must: a field whose bytes equal cur's encoding of it keeps cur's
// value (decoding those bytes would give it back), so an edit to a stored row decodes just the
// fields that moved rather than the whole row twice over. Fields are kept by struct field
// index, in slices rather than maps: overlay runs for every pushed change.
func overlay[T any](cur *T, fields iter.Seq2[string, json.RawMessage]) (T, error) {
	return overlayFrom(cur, fields, nil, nil)
}

// overlayFrom is overlay, taking the value of a field that must be decoded from patched
// instead where fields holds patch's bytes for it: patched is patch decoded over a zero T
// (checkCanonical's result), so its field is what the decode would give. An edit's fields
// are then not decoded twice.
func overlayFrom[T any](cur *T, fields iter.Seq2[string, json.RawMessage], patch map[string]json.RawMessage, patched *T) (T, error) {
	rf := fieldsOf(reflect.TypeFor[T]())
	if !rf.flat || reflect.TypeFor[T]().Kind() != reflect.Struct {
		return overlaySlow(cur, maps.Collect(fields))
	}
	// vals escapes through the loop over fields (a function), so it comes from a pool: this
	// runs for every pushed change. Nothing keeps it past the return.
	vp := valsPool.Get().(*[]json.RawMessage)
	vals := slices.Grow((*vp)[:0], len(rf.nameAt))[:len(rf.nameAt)]
	defer func() {
		clear(vals)
		*vp = vals[:0]
		valsPool.Put(vp)
	}()
	for k, v := range fields {
		i, ok := rf.index[k]
		if !ok || !plainKey(k) {
			// A name that is no field still matches one case-insensitively in a decode;
			// leave such rare patches to the definition.
			return overlaySlow(cur, maps.Collect(fields))
		}
		vals[i] = v
	}
	if out, ok := overlayPlain(rf, cur, vals, patch, patched); ok {
		return out, nil
	}
	var out T
	var curEnc [][]byte
	if cur != nil {
		b, err := json.Marshal(cur)
		if err != nil {
			return out, err
		}
		var ok bool
		if curEnc, ok = rf.byIndex(b); !ok {
			return overlaySlow(cur, maps.Collect(fields))
		}
		out = *cur
	}
	ov := reflect.ValueOf(&out).Elem()
	if cur != nil {
		// Fields that neither cur's encoding nor fields hold ("-" ones, empty omitempty
		// ones) are zero, as a decode into a zero T leaves them.
		for i := range rf.nameAt {
			if curEnc[i] == nil && vals[i] == nil && ov.Type().Field(i).IsExported() {
				ov.Field(i).SetZero()
			}
		}
	}
	var pv reflect.Value
	if patched != nil && exactFields(rf, patch) {
		pv = reflect.ValueOf(patched).Elem()
	}
	var at [32]int
	decode := at[:0]
	for i, v := range vals {
		if v == nil || cur != nil && bytes.Equal(curEnc[i], v) {
			continue
		}
		if p, ok := patch[rf.nameAt[i]]; ok && pv.IsValid() && bytes.Equal(p, v) {
			ov.Field(i).Set(pv.Field(i))
			continue
		}
		// Unmarshal fills pointers and slices in place: start from zero so cur's values
		// are never written through.
		ov.Field(i).SetZero()
		decode = append(decode, i)
	}
	if len(decode) == 0 {
		return out, nil
	}
	b := rf.appendObject(nil, vals, decode)
	if err := json.Unmarshal(b, &out); err != nil {
		return out, overlayError(err)
	}
	return out, nil
}

// overlayPlain is overlayFrom's work without encoding/json, for the common case where every
// value it must decode is plain (plainValue): it keeps cur's value for a field that encodes
// as its value in vals already (encodesAs) instead of encoding cur to compare. ok is false
// when some value is not plain; the caller then takes the general route.
func overlayPlain[T any](rf *rowFields, cur *T, vals []json.RawMessage, patch map[string]json.RawMessage, patched *T) (out T, ok bool) {
	ov := reflect.ValueOf(&out).Elem()
	if cur != nil {
		out = *cur
		// A field cur's encoding would not hold, and vals does not set, decodes to zero.
		for i := range rf.nameAt {
			if vals[i] == nil && ov.Type().Field(i).IsExported() && !rf.encoded(i, ov.Field(i)) {
				ov.Field(i).SetZero()
			}
		}
	}
	var pv reflect.Value
	if patched != nil && exactFields(rf, patch) {
		pv = reflect.ValueOf(patched).Elem()
	}
	for i, v := range vals {
		if v == nil {
			continue
		}
		f := ov.Field(i)
		if cur != nil && encodesAs(f, v) {
			continue
		}
		if p, ok := patch[rf.nameAt[i]]; ok && pv.IsValid() && bytes.Equal(p, v) {
			f.Set(pv.Field(i))
			continue
		}
		if !plainValue(f, v) {
			return out, false
		}
	}
	return out, true
}

// plainCanonical reports whether json.Marshal writes each field of n that patch names as
// exactly its patch value (HTML escaping aside), by encodesAs: checkCanonical's test without
// encoding n. False also means "not known".
func plainCanonical(rf *rowFields, n reflect.Value, patch map[string]json.RawMessage) bool {
	for name, pv := range patch {
		i, ok := rf.index[name]
		if !ok {
			return false
		}
		f := n.Field(i)
		if !rf.encoded(i, f) {
			if string(pv) != "null" {
				return false
			}
			continue
		}
		if !encodesAs(f, pv) {
			return false
		}
	}
	return true
}

var valsPool = sync.Pool{New: func() any { return new([]json.RawMessage) }}

// exactFields reports whether every name in patch is a JSON field name of rf exactly, so
// that a decode of patch sets those fields and no others (no case-insensitive matches).
func exactFields(rf *rowFields, patch map[string]json.RawMessage) bool {
	for k := range patch {
		if _, ok := rf.index[k]; !ok {
			return false
		}
	}
	return true
}

// overlaySlow is overlay's definition, for row types overlay's shortcut does not cover.
func overlaySlow[T any](cur *T, fields map[string]json.RawMessage) (T, error) {
	var out T
	m := map[string]json.RawMessage{}
	if cur != nil {
		b, err := json.Marshal(cur)
		if err != nil {
			return out, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return out, err
		}
	}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return out, domain.Errorf(domain.CodeInvalid, "patch is not valid json")
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, overlayError(err)
	}
	return out, nil
}

func overlayError(err error) error {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return domain.FieldErrorf("patch."+te.Field, "%s has the wrong json type", te.Field)
	case errors.As(err, &pe):
		return domain.FieldErrorf("patch", "a time value is not RFC 3339")
	case errors.As(err, &se):
		return domain.Errorf(domain.CodeInvalid, "patch is not valid json")
	}
	return domain.FieldErrorf("patch", "a patch value has the wrong type")
}

// checkCanonical requires every value in patch to be exactly (after merge.Canonical) what the
// hub stores for it: the patch laid over cur, normalized and encoded again. Digests compare
// bytes, so a value the hub would store differently (a time with a zone offset or beyond
// microseconds, unsorted skills) would make replicas disagree. It returns the patch laid
// over a zero row (before normalizing), which is what overlay(nil, patch) gives.
func checkCanonical[T any](cur *T, patch map[string]json.RawMessage, norm func(T) T) (T, error) {
	var zero T
	if len(patch) == 0 {
		return zero, nil
	}
	// Each field's canonical form depends on that field alone, so the patch is laid over a
	// zero row: cheaper than encoding the current row again.
	v, err := overlay[T](nil, maps.All(patch))
	if err != nil {
		return zero, err
	}
	n := norm(v)
	if rf := fieldsOf(reflect.TypeFor[T]()); rf.flat && plainCanonical(rf, reflect.ValueOf(&n).Elem(), patch) {
		return v, nil
	}
	if err := canonicalByEncoding(n, patch); err != nil {
		return zero, err
	}
	return v, nil
}

// canonicalByEncoding is checkCanonical's test done the general way: n (the patch laid over
// a zero row, normalized) is encoded, and each patch value must be what the encoding holds
// for its field, after merge.Canonical.
func canonicalByEncoding[T any](n T, patch map[string]json.RawMessage) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	rf := fieldsOf(reflect.TypeFor[T]())
	enc, ok := rf.byIndex(b)
	var full map[string]json.RawMessage
	if !ok {
		if err := json.Unmarshal(b, &full); err != nil {
			return err
		}
	}
	for f, pv := range patch {
		var want []byte
		if full != nil {
			want = full[f]
		} else if i, ok := rf.index[f]; ok {
			want = enc[i]
		}
		if want == nil {
			want = jsonNull
		}
		if bytes.Equal(pv, want) {
			continue
		}
		a, err1 := merge.Canonical(pv)
		w, err2 := merge.Canonical(want)
		if err1 != nil || err2 != nil || !bytes.Equal(a, w) {
			return domain.FieldErrorf("patch."+f, "%s is not in canonical form: want %s", f, truncate(string(w), 80))
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func usPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := us(*t)
	return &v
}

// CanonicalSkills is the stored form of a skill list: trimmed, lower case, unique, sorted,
// never nil.
func CanonicalSkills(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// NormalizeTicket gives t the form the hub stores: UTC microsecond times, canonical skills,
// no empty team.
func NormalizeTicket(t domain.Ticket) domain.Ticket {
	t.Skills = CanonicalSkills(t.Skills)
	t.DueDate, t.CreatedAt, t.UpdatedAt = us(t.DueDate), us(t.CreatedAt), us(t.UpdatedAt)
	t.AssignedAt, t.StartedAt, t.ResolvedAt = usPtr(t.AssignedAt), usPtr(t.StartedAt), usPtr(t.ResolvedAt)
	t.ClosedAt, t.DeletedAt = usPtr(t.ClosedAt), usPtr(t.DeletedAt)
	if t.AssignedTeam != nil && *t.AssignedTeam == "" {
		t.AssignedTeam = nil
	}
	return t
}

// NormalizeTeam gives t the form the hub stores.
func NormalizeTeam(t domain.Team) domain.Team {
	t.Skills = CanonicalSkills(t.Skills)
	t.CreatedAt, t.UpdatedAt, t.DeletedAt = us(t.CreatedAt), us(t.UpdatedAt), usPtr(t.DeletedAt)
	return t
}

// NormalizeZone gives z the form the hub stores.
func NormalizeZone(z domain.Zone) domain.Zone {
	if z.Boundary == nil {
		z.Boundary = []domain.Point{}
	}
	z.CreatedAt = us(z.CreatedAt)
	return z
}

// NormalizeUser gives u the form the hub stores.
func NormalizeUser(u domain.User) domain.User {
	u.CreatedAt, u.UpdatedAt = us(u.CreatedAt), us(u.UpdatedAt)
	return u
}

// TicketNumberValue parses "TKT-000123" as 123 (0 if it is not a ticket number).
func TicketNumberValue(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "TKT-"), 10, 64)
	if err != nil || !strings.HasPrefix(s, "TKT-") || n <= 0 {
		return 0
	}
	return n
}
