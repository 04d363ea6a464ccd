// Package fastjson decodes, in one pass and without reflection, the JSON that AIFF's own
// encoders write for changes: compact, members in declaration order, strings without
// escapes. encoding/json spends most of a sync frame's decode scanning it several times
// and matching names by reflection; a hub takes in thousands of changes a second and an
// edge bootstraps millions of rows, so both try this decoder first.
//
// A Decoder handles only that exact form. For anything else (whitespace, members in another
// order, escaped strings, unknown members) its methods report false and the caller decodes
// the input with encoding/json as before. When a Decoder succeeds, its result is what
// encoding/json would decode from the same bytes, so input is accepted, refused and
// normalized exactly as before; the callers' fuzz tests check that against encoding/json.
package fastjson

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/aiff/aiff/domain"
)

// Decoder reads B from I on. Every method reports false, consuming nothing useful, when the
// input is not in the form it handles; a caller then gives up on the whole input.
type Decoder struct {
	B []byte
	I int
	// Names, if not nil, interns the strings that repeat from change to change (field names,
	// origins, actors, entities, ops, zones): each is allocated once per input, not once per
	// change. It is bounded by maxNames.
	Names map[string]string
	// Own copies each change's patch values out of B (one allocation per patch), so that the
	// changes decoded do not keep B alive: set it when they outlive the input, as a hub's
	// merge states do. Without it values are slices of B, as a json.RawMessage would be
	// without the copy encoding/json makes.
	Own bool
}

// maxNames bounds Decoder.Names.
const maxNames = 4096

// Done reports whether the whole input has been read.
func (d *Decoder) Done() bool { return d.I == len(d.B) }

// Lit reads the literal bytes s.
func (d *Decoder) Lit(s string) bool {
	if len(d.B)-d.I < len(s) || string(d.B[d.I:d.I+len(s)]) != s {
		return false
	}
	d.I += len(s)
	return true
}

// Name reads a string (as Str) that is likely to repeat, interned in d.Names.
func (d *Decoder) Name() (string, bool) {
	b, ok := d.StrBytes()
	if !ok {
		return "", false
	}
	if s, ok := d.Names[string(b)]; ok {
		return s, true
	}
	s := string(b)
	if d.Names != nil && len(d.Names) < maxNames {
		d.Names[s] = s
	}
	return s, true
}

// Str reads a string without escapes or control characters, valid UTF-8 (what encoding/json
// would decode to the same bytes).
func (d *Decoder) Str() (string, bool) {
	b, ok := d.StrBytes()
	return string(b), ok
}

// StrBytes is Str returning a slice of B.
func (d *Decoder) StrBytes() ([]byte, bool) {
	if d.I >= len(d.B) || d.B[d.I] != '"' {
		return nil, false
	}
	start := d.I + 1
	ascii := true
	for j := start; j < len(d.B); j++ {
		switch c := d.B[j]; {
		case c == '"':
			s := d.B[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.I = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// Int reads a non-negative integer without leading zeros that fits an int64.
func (d *Decoder) Int() (int64, bool) {
	j := d.I
	for j < len(d.B) && d.B[j] >= '0' && d.B[j] <= '9' {
		j++
	}
	if j == d.I || j-d.I > 18 || (d.B[d.I] == '0' && j-d.I > 1) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(d.B[d.I:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	d.I = j
	return n, true
}

// Bool reads true or false.
func (d *Decoder) Bool() (bool, bool) {
	switch {
	case d.Lit("true"):
		return true, true
	case d.Lit("false"):
		return false, true
	}
	return false, false
}

// Changes reads an array of changes (Change each). An empty array gives an empty, non-nil
// slice, as encoding/json does; null is not handled.
func (d *Decoder) Changes() ([]domain.Change, bool) {
	if !d.Lit("[") {
		return nil, false
	}
	out := make([]domain.Change, 0, 16)
	if !d.elems("]", func() bool {
		out = append(out, domain.Change{})
		return d.Change(&out[len(out)-1])
	}) {
		return nil, false
	}
	return out, true
}

// elems reads the comma-separated elements of an array or object, each with elem, up to
// and including close; the opening bracket has been read.
func (d *Decoder) elems(close string, elem func() bool) bool {
	if d.Lit(close) {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !d.Lit(",") {
			return d.Lit(close)
		}
	}
}

// Change reads a domain.Change as encoding/json writes it: its members in declaration
// order, the omitempty ones possibly absent. c must be the zero Change.
func (d *Decoder) Change(c *domain.Change) bool {
	var ok bool
	if !d.Lit(`{"id":`) {
		return false
	}
	if c.ID, ok = d.Str(); !ok {
		return false
	}
	if d.Lit(`,"seq":`) {
		if c.Seq, ok = d.Int(); !ok {
			return false
		}
	}
	if !d.Lit(`,"origin":`) {
		return false
	}
	if c.Origin, ok = d.Name(); !ok || !d.Lit(`,"actor":`) {
		return false
	}
	if c.Actor, ok = d.Name(); !ok || !d.Lit(`,"entity":`) {
		return false
	}
	e, ok := d.Name()
	if !ok || !d.Lit(`,"entity_id":`) {
		return false
	}
	c.Entity = domain.Entity(e)
	if c.EntityID, ok = d.Str(); !ok || !d.Lit(`,"op":`) {
		return false
	}
	op, ok := d.Name()
	if !ok {
		return false
	}
	c.Op = domain.Op(op)
	if d.Lit(`,"zone":`) {
		if c.Zone, ok = d.Name(); !ok {
			return false
		}
	}
	if d.Lit(`,"patch":`) {
		if c.Patch, ok = d.patch(); !ok {
			return false
		}
	}
	if d.Lit(`,"hlc":`) {
		if c.HLC, ok = d.Str(); !ok {
			return false
		}
	}
	if !d.Lit(`,"at":`) {
		return false
	}
	at, ok := d.StrBytes()
	if !ok || c.At.UnmarshalJSON(d.B[d.I-len(at)-2:d.I]) != nil {
		return false
	}
	if d.Lit(`,"base":{`) {
		c.Base = make(map[string]string, 4)
		if !d.elems("}", func() bool {
			k, ok := d.Name()
			if !ok || !d.Lit(":") {
				return false
			}
			v, ok := d.Str()
			if ok {
				c.Base[k] = v
			}
			return ok
		}) {
			return false
		}
	}
	return d.Lit("}")
}

// patch reads a patch object: member names as Name, values as Value.
func (d *Decoder) patch() (map[string]json.RawMessage, bool) {
	start := d.I
	if !d.Lit("{") {
		return nil, false
	}
	type member struct {
		name       string
		start, end int
	}
	var buf [24]member
	members := buf[:0]
	if !d.elems("}", func() bool {
		k, ok := d.Name()
		if !ok || !d.Lit(":") {
			return false
		}
		vs := d.I
		if _, ok := d.Value(); !ok {
			return false
		}
		members = append(members, member{k, vs, d.I})
		return true
	}) {
		return nil, false
	}
	src, off := d.B, 0
	if d.Own {
		// One copy of the whole object; the values are slices of it.
		src, off = append([]byte(nil), d.B[start:d.I]...), start
	}
	m := make(map[string]json.RawMessage, len(members))
	for _, mb := range members {
		m[mb.name] = src[mb.start-off : mb.end-off : mb.end-off]
	}
	return m, true
}

// maxDepth bounds the nesting Value follows (deeper values take the slow path).
const maxDepth = 32

// Value reads one compact JSON value and returns its bytes (a slice of B, as encoding/json
// would copy them into a json.RawMessage). Strings may hold escapes here; any whitespace, or
// anything not plainly valid, is left to encoding/json.
func (d *Decoder) Value() ([]byte, bool) { return d.value(0) }

func (d *Decoder) value(depth int) ([]byte, bool) {
	if d.I >= len(d.B) || depth > maxDepth {
		return nil, false
	}
	start := d.I
	switch c := d.B[d.I]; {
	case c == '"':
		if !d.rawString() {
			return nil, false
		}
	case c == '{':
		d.I++
		if !d.elems("}", func() bool {
			if !d.rawString() || !d.Lit(":") {
				return false
			}
			_, ok := d.value(depth + 1)
			return ok
		}) {
			return nil, false
		}
	case c == '[':
		d.I++
		if !d.elems("]", func() bool {
			_, ok := d.value(depth + 1)
			return ok
		}) {
			return nil, false
		}
	case c == 't':
		if !d.Lit("true") {
			return nil, false
		}
	case c == 'f':
		if !d.Lit("false") {
			return nil, false
		}
	case c == 'n':
		if !d.Lit("null") {
			return nil, false
		}
	case c == '-' || c >= '0' && c <= '9':
		if !d.number() {
			return nil, false
		}
	default:
		return nil, false
	}
	return d.B[start:d.I:d.I], true
}

// rawString reads a JSON string with valid escapes and no control characters.
func (d *Decoder) rawString() bool {
	if d.I >= len(d.B) || d.B[d.I] != '"' {
		return false
	}
	for j := d.I + 1; j < len(d.B); j++ {
		switch c := d.B[j]; {
		case c == '"':
			d.I = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(d.B) {
				return false
			}
			switch d.B[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(d.B) {
					return false
				}
				for _, h := range d.B[j+2 : j+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				j += 5
			default:
				return false
			}
		}
	}
	return false
}

// number reads a JSON number (RFC 8259 grammar).
func (d *Decoder) number() bool {
	b, j := d.B, d.I
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return false
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return false
		}
	}
	d.I = j
	return true
}

// PlainScalar reports whether v is a JSON scalar that encoding/json decodes and encodes again
// (HTML escaping off) to the same bytes: a string without escapes, control characters,
// invalid UTF-8 or U+2028/U+2029 (which the encoder rewrites); a number as the grammar
// writes it (kept as written with UseNumber); true, false or null; or an empty array or
// object. Such a value is valid, compact and canonical as it stands, so the common patch
// values skip a validation, decode and encode. It is conservative: anything else is false.
func PlainScalar(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch string(v) {
	case "true", "false", "null", "[]", "{}": // empty containers too (a ticket's skills: [])
		return true
	}
	if v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return false
		}
		s := v[1 : len(v)-1]
		for i := 0; i < len(s); {
			b := s[i]
			if b < utf8.RuneSelf {
				if b < 0x20 || b == '"' || b == '\\' {
					return false
				}
				i++
				continue
			}
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				return false
			}
			i += size
		}
		return true
	}
	d := Decoder{B: v}
	return d.number() && d.Done()
}

// PlainList reports whether v is a compact JSON array of PlainScalar strings, numbers,
// true, false or null (a ticket's skills): encoding/json decodes and encodes such an array
// again (HTML escaping off) to the same bytes too. Nested arrays and objects are false.
func PlainList(v []byte) bool {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	if len(v) == 2 {
		return true
	}
	for i := 1; ; {
		j := i
		switch v[i] {
		case '[', '{', ']', ',':
			return false
		case '"':
			// A plain string holds no quote or backslash, so the next quote ends it (or
			// PlainScalar refuses what it took for one).
			for j++; j < len(v) && v[j] != '"'; j++ {
			}
			j++
		default:
			for j < len(v) && v[j] != ',' && v[j] != ']' {
				j++
			}
		}
		if j >= len(v) || !PlainScalar(v[i:j]) {
			return false
		}
		switch v[j] {
		case ',':
			i = j + 1
		case ']':
			return j == len(v)-1
		default:
			return false
		}
	}
}
