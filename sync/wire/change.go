package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/fastjson"
	"github.com/aiff/aiff/sync/hlc"
)

// source says where a list of changes comes from, which decides the Seq and HLC rules.
type source int

const (
	fromOrigin source = iota // a push: no Seq yet, HLC required and stamped by the origin
	fromHub                  // the hub's log: Seq set and strictly increasing
)

// entityFields lists the patchable fields of each entity: the JSON names of its domain type.
// Deriving them from the types keeps the wire format in step with domain without a second list.
var entityFields = map[domain.Entity]map[string]bool{
	domain.EntityTicket: jsonFields(domain.Ticket{}),
	domain.EntityTeam:   jsonFields(domain.Team{}),
	domain.EntityUser:   jsonFields(domain.User{}),
	domain.EntityZone:   jsonFields(domain.Zone{}),
	domain.EntityNote:   jsonFields(domain.Note{}),
}

func jsonFields(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}

// KnownField reports whether field is a patchable field of entity e.
func KnownField(e domain.Entity, field string) bool { return entityFields[e][field] }

// checkChanges validates and normalizes a list of changes in place.
func checkChanges(cs []domain.Change, lim *Limits, src source) error {
	if lim != nil && len(cs) > lim.MaxChanges {
		return domain.Errorf(domain.CodeTooLarge, "more than %d changes in one frame", lim.MaxChanges)
	}
	seen := make(map[string]bool, len(cs))
	var prevSeq int64
	for i := range cs {
		c := &cs[i]
		if err := checkChange(c, "changes["+itoa(i)+"].", lim, src); err != nil {
			return err
		}
		if seen[c.ID] {
			return domain.FieldErrorf("changes["+itoa(i)+"].id", "change %s appears twice", c.ID)
		}
		seen[c.ID] = true
		if src == fromHub {
			if c.Seq <= prevSeq {
				return domain.FieldErrorf("changes["+itoa(i)+"].seq", "seq must increase")
			}
			prevSeq = c.Seq
		}
	}
	return nil
}

// checkChange validates one change (field names prefixed by p) and normalizes it: patch values
// compacted, empty maps nil, At in UTC.
func checkChange(c *domain.Change, p string, lim *Limits, src source) error {
	maxFields, maxValue := 0, 0
	if lim != nil {
		maxFields, maxValue = lim.MaxPatchFields, lim.MaxValueBytes
	}
	if !domain.ValidID(c.ID) {
		return domain.FieldErrorf(p+"id", "id must be a canonical ulid")
	}
	switch src {
	case fromOrigin:
		if c.Seq != 0 {
			return domain.FieldErrorf(p+"seq", "seq is given by the hub and must be absent in a push")
		}
	case fromHub:
		if c.Seq <= 0 {
			return domain.FieldErrorf(p+"seq", "seq must be positive")
		}
	}
	if !hlc.ValidNode(c.Origin) {
		return domain.FieldErrorf(p+"origin", "origin must be 1 to %d printable ascii characters without spaces", hlc.MaxNodeLen)
	}
	if err := checkText(p+"actor", c.Actor, 1, 200); err != nil {
		return err
	}
	fields, ok := entityFields[c.Entity]
	if !ok {
		return domain.FieldErrorf(p+"entity", "unknown entity %q (want ticket, team, user, zone or note)", truncate(string(c.Entity), 40))
	}
	if err := checkText(p+"entity_id", c.EntityID, 1, 128); err != nil {
		return err
	}
	if err := checkText(p+"zone", c.Zone, 0, 400); err != nil || utf8.RuneCountInString(c.Zone) > 100 {
		return domain.FieldErrorf(p+"zone", "zone must be valid text of at most 100 characters")
	}
	c.At = c.At.UTC()
	if !validTime(c.At) {
		return domain.FieldErrorf(p+"at", "at must be a time between 1970 and 9999")
	}

	var ts hlc.Timestamp
	switch {
	case c.HLC != "":
		var err error
		if ts, err = hlc.Parse(c.HLC); err != nil {
			return domain.FieldErrorf(p+"hlc", "invalid hlc")
		}
		if src == fromOrigin && ts.Node != c.Origin {
			return domain.FieldErrorf(p+"hlc", "hlc node must be the change's origin")
		}
	case src == fromOrigin:
		return domain.FieldErrorf(p+"hlc", "a pushed change needs an hlc")
	}

	switch c.Op {
	case domain.OpUpsert:
		if len(c.Patch) == 0 {
			return domain.FieldErrorf(p+"patch", "an upsert needs a non-empty patch")
		}
	case domain.OpDelete:
		if len(c.Patch) != 0 {
			return domain.FieldErrorf(p+"patch", "a delete has no patch")
		}
		c.Patch = nil
	default:
		return domain.FieldErrorf(p+"op", "unknown op %q (want upsert or delete)", truncate(string(c.Op), 40))
	}
	if maxFields > 0 && (len(c.Patch) > maxFields || len(c.Base) > maxFields+1) {
		return domain.Errorf(domain.CodeTooLarge, "change %s has more than %d fields", c.ID, maxFields)
	}
	for k, v := range c.Patch {
		if !fields[k] {
			return domain.FieldErrorf(p+"patch", "unknown %s field %q", c.Entity, truncate(k, 40))
		}
		if maxValue > 0 && len(v) > maxValue {
			return domain.Errorf(domain.CodeTooLarge, "value of %s is larger than %d bytes", truncate(k, 40), maxValue)
		}
		cv, err := compact(v)
		if err != nil {
			return domain.FieldErrorf(p+"patch."+k, "value must be valid json text")
		}
		c.Patch[k] = cv
		if err := checkValue(c.Entity, c.EntityID, k, cv); err != nil {
			return domain.FieldErrorf(p+"patch."+k, "%s", domain.ErrorMessage(err))
		}
	}
	if len(c.Base) == 0 {
		c.Base = nil
	}
	for k, v := range c.Base {
		if !fields[k] {
			return domain.FieldErrorf(p+"base", "unknown %s field %q", c.Entity, truncate(k, 40))
		}
		b, err := hlc.Parse(v)
		if err != nil {
			return domain.FieldErrorf(p+"base."+k, "invalid hlc")
		}
		if !ts.IsZero() && !b.Less(ts) {
			return domain.FieldErrorf(p+"base."+k, "a base clock must be before the change's hlc")
		}
	}
	return nil
}

// compact returns v as compact JSON text with no HTML escaping, or an error for invalid JSON
// or invalid UTF-8.
func compact(v json.RawMessage) (json.RawMessage, error) {
	if fastjson.PlainScalar(v) {
		return v, nil // valid, compact and valid UTF-8 as it stands (the usual case)
	}
	if !utf8.Valid(v) || !json.Valid(v) {
		return nil, errInvalidValue
	}
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return v, nil // no whitespace at all: already compact (the usual case)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil, errInvalidValue
	}
	return json.RawMessage(buf.Bytes()), nil
}

var errInvalidValue = domain.Errorf(domain.CodeInvalid, "invalid json value")

// checkValue checks the values merge interprets: the row id, and a ticket's status and
// priority. Everything else is validated by the store that applies the change.
func checkValue(e domain.Entity, id, field string, v json.RawMessage) error {
	switch {
	case field == "id":
		var s string
		if !plainStringIs(v, id) && (json.Unmarshal(v, &s) != nil || s != id) {
			return domain.Errorf(domain.CodeInvalid, "id must equal entity_id")
		}
	case e == domain.EntityTicket && field == "status":
		var s domain.Status
		if !validStatusJSON[string(v)] && (json.Unmarshal(v, &s) != nil || !s.Valid()) {
			return domain.Errorf(domain.CodeInvalid, "status must be a known ticket status")
		}
	case e == domain.EntityTicket && field == "priority":
		var pr domain.Priority
		if !validPriorityJSON[string(v)] && (json.Unmarshal(v, &pr) != nil || !pr.Valid()) {
			return domain.Errorf(domain.CodeInvalid, "priority must be low, medium, high or critical")
		}
	}
	return nil
}

// plainStringIs reports whether v is the JSON string s written without escapes, which
// spares the usual id value a decode.
func plainStringIs(v []byte, s string) bool {
	return len(v) == len(s)+2 && v[0] == '"' && v[len(v)-1] == '"' && string(v[1:len(v)-1]) == s
}

// validStatusJSON and validPriorityJSON hold the plain JSON text of each valid ticket
// status and priority; other spellings (escapes) are decoded to be checked.
var validStatusJSON, validPriorityJSON = func() (map[string]bool, map[string]bool) {
	st, pr := map[string]bool{}, map[string]bool{}
	for _, s := range domain.Statuses {
		st[`"`+string(s)+`"`] = true
	}
	for _, p := range domain.Priorities {
		pr[`"`+string(p)+`"`] = true
	}
	return st, pr
}()

// checkText requires s to be valid UTF-8 without control characters, of min..max bytes.
func checkText(field, s string, minLen, maxLen int) error {
	if len(s) < minLen {
		return domain.FieldErrorf(field, "%s is required", field)
	}
	if len(s) > maxLen {
		return domain.FieldErrorf(field, "%s is longer than %d bytes", field, maxLen)
	}
	if !utf8.ValidString(s) {
		return domain.FieldErrorf(field, "%s must be valid utf-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return domain.FieldErrorf(field, "%s must not contain control characters", field)
		}
	}
	return nil
}
