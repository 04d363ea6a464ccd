package snapshot

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/aiff/aiff/domain"
)

// Fast decoding of chunk lines. A bootstrap reads millions of rows, and encoding/json spent
// most of the reader's time there: it scans each line three times (envelope, data, rows) and
// decodes by reflection. fastChunk decodes a chunk line in one pass, but only in the exact
// form a Writer produces (compact, members in the Writer's order, strings without escapes);
// for anything else it reports !ok and the line goes through encoding/json as before. When it
// succeeds its result is what encoding/json would decode, so a stream is accepted, refused
// and normalized exactly as before: the rows go through the same checks either way.

const fastChunkPrefix = `{"v":1,"type":"` + TypeChunk + `","data":{"index":`

// fastChunk decodes a chunk line (its sum member included) written by a Writer. names, if
// not nil, interns the strings that repeat from row to row (field names, origins, actors,
// entities, ops, zones), so that each is allocated once per stream rather than once per row.
func fastChunk(line []byte, names map[string]string) (index int, last string, rows []Row, ok bool) {
	d := fastDec{b: line, names: names}
	if !d.lit(fastChunkPrefix) {
		return 0, "", nil, false
	}
	n, ok := d.int()
	if !ok || n > 1<<31 || !d.lit(`,"last":`) {
		return 0, "", nil, false
	}
	if last, ok = d.str(); !ok || !d.lit(`,"rows":[`) {
		return 0, "", nil, false
	}
	rows = make([]Row, 0, 64)
	for {
		var r Row
		if !d.row(&r) {
			return 0, "", nil, false
		}
		rows = append(rows, r)
		if d.lit(",") {
			continue
		}
		if !d.lit(`],"sum":`) {
			return 0, "", nil, false
		}
		break
	}
	if _, ok := d.strBytes(); !ok || !d.lit("}}") || d.i != len(d.b) {
		return 0, "", nil, false
	}
	return int(n), last, rows, true
}

// fastDec reads b from i on; every method reports false, consuming nothing useful, when the
// input is not in the form it handles.
type fastDec struct {
	b     []byte
	i     int
	names map[string]string
}

// maxNames bounds fastDec.names.
const maxNames = 4096

// name reads a string (as str) that is likely to repeat, interned in d.names.
func (d *fastDec) name() (string, bool) {
	b, ok := d.strBytes()
	if !ok {
		return "", false
	}
	if s, ok := d.names[string(b)]; ok {
		return s, true
	}
	s := string(b)
	if d.names != nil && len(d.names) < maxNames {
		d.names[s] = s
	}
	return s, true
}

func (d *fastDec) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// str reads a string without escapes or control characters, valid UTF-8 (what encoding/json
// would decode to the same bytes).
func (d *fastDec) str() (string, bool) {
	b, ok := d.strBytes()
	return string(b), ok
}

func (d *fastDec) strBytes() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// int reads a non-negative integer without leading zeros that fits an int64.
func (d *fastDec) int() (int64, bool) {
	j := d.i
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		j++
	}
	if j == d.i || j-d.i > 18 || (d.b[d.i] == '0' && j-d.i > 1) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(d.b[d.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	d.i = j
	return n, true
}

// row reads {"entity":…,"id":…,"changes":[…]}.
func (d *fastDec) row(r *Row) bool {
	if !d.lit(`{"entity":`) {
		return false
	}
	e, ok := d.name()
	if !ok || !d.lit(`,"id":`) {
		return false
	}
	r.Entity = domain.Entity(e)
	if r.ID, ok = d.str(); !ok || !d.lit(`,"changes":[`) {
		return false
	}
	r.Changes = make([]domain.Change, 0, 1)
	if d.lit("]") {
		return d.lit("}")
	}
	for {
		r.Changes = append(r.Changes, domain.Change{})
		if !d.change(&r.Changes[len(r.Changes)-1]) {
			return false
		}
		if d.lit(",") {
			continue
		}
		return d.lit("]}")
	}
}

// change reads a domain.Change as encoding/json writes it: its members in declaration
// order, the omitempty ones possibly absent.
func (d *fastDec) change(c *domain.Change) bool {
	var ok bool
	if !d.lit(`{"id":`) {
		return false
	}
	if c.ID, ok = d.str(); !ok {
		return false
	}
	if d.lit(`,"seq":`) {
		if c.Seq, ok = d.int(); !ok {
			return false
		}
	}
	if !d.lit(`,"origin":`) {
		return false
	}
	if c.Origin, ok = d.name(); !ok || !d.lit(`,"actor":`) {
		return false
	}
	if c.Actor, ok = d.name(); !ok || !d.lit(`,"entity":`) {
		return false
	}
	e, ok := d.name()
	if !ok || !d.lit(`,"entity_id":`) {
		return false
	}
	c.Entity = domain.Entity(e)
	if c.EntityID, ok = d.str(); !ok || !d.lit(`,"op":`) {
		return false
	}
	op, ok := d.name()
	if !ok {
		return false
	}
	c.Op = domain.Op(op)
	if d.lit(`,"zone":`) {
		if c.Zone, ok = d.name(); !ok {
			return false
		}
	}
	if d.lit(`,"patch":{`) {
		c.Patch = make(map[string]json.RawMessage, 24)
		if !d.lit("}") {
			for {
				k, ok := d.name()
				if !ok || !d.lit(":") {
					return false
				}
				v, ok := d.value(0)
				if !ok {
					return false
				}
				c.Patch[k] = v
				if d.lit(",") {
					continue
				}
				if !d.lit("}") {
					return false
				}
				break
			}
		}
	}
	if d.lit(`,"hlc":`) {
		if c.HLC, ok = d.str(); !ok {
			return false
		}
	}
	if !d.lit(`,"at":`) {
		return false
	}
	at, ok := d.strBytes()
	if !ok || c.At.UnmarshalJSON(d.b[d.i-len(at)-2:d.i]) != nil {
		return false
	}
	if d.lit(`,"base":{`) {
		c.Base = make(map[string]string, 4)
		if !d.lit("}") {
			for {
				k, ok := d.name()
				if !ok || !d.lit(":") {
					return false
				}
				v, ok := d.str()
				if !ok {
					return false
				}
				c.Base[k] = v
				if d.lit(",") {
					continue
				}
				if !d.lit("}") {
					return false
				}
				break
			}
		}
	}
	return d.lit("}")
}

// maxFastDepth bounds the nesting fastDec.value follows (deeper values take the slow path).
const maxFastDepth = 32

// value reads one compact JSON value and returns its bytes (a slice of the line, as
// encoding/json would copy them into a json.RawMessage). Strings may hold escapes here; any
// whitespace, or anything not plainly valid, is left to encoding/json.
func (d *fastDec) value(depth int) ([]byte, bool) {
	if d.i >= len(d.b) || depth > maxFastDepth {
		return nil, false
	}
	start := d.i
	switch c := d.b[d.i]; {
	case c == '"':
		if !d.rawString() {
			return nil, false
		}
	case c == '{':
		d.i++
		if !d.lit("}") {
			for {
				if !d.rawString() || !d.lit(":") {
					return nil, false
				}
				if _, ok := d.value(depth + 1); !ok {
					return nil, false
				}
				if d.lit(",") {
					continue
				}
				if !d.lit("}") {
					return nil, false
				}
				break
			}
		}
	case c == '[':
		d.i++
		if !d.lit("]") {
			for {
				if _, ok := d.value(depth + 1); !ok {
					return nil, false
				}
				if d.lit(",") {
					continue
				}
				if !d.lit("]") {
					return nil, false
				}
				break
			}
		}
	case c == 't':
		if !d.lit("true") {
			return nil, false
		}
	case c == 'f':
		if !d.lit("false") {
			return nil, false
		}
	case c == 'n':
		if !d.lit("null") {
			return nil, false
		}
	case c == '-' || c >= '0' && c <= '9':
		if !d.number() {
			return nil, false
		}
	default:
		return nil, false
	}
	return d.b[start:d.i:d.i], true
}

// rawString reads a JSON string with valid escapes and no control characters.
func (d *fastDec) rawString() bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(d.b) {
				return false
			}
			switch d.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(d.b) {
					return false
				}
				for _, h := range d.b[j+2 : j+6] {
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
func (d *fastDec) number() bool {
	b, j := d.b, d.i
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
	d.i = j
	return true
}
