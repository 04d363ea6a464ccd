package sqlite

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// encodeRow returns r's stored form (see state.go): exactly the bytes json.Marshal of
// storedFormOf(r) returns, several times faster: a row is re-encoded whole on every save, and
// encoding/json spends most of that on reflection, map key sorting and re-validating every
// raw patch value. Anything outside the shapes it knows (a time json cannot encode, a raw
// value that is not compact valid JSON) falls back to json.Marshal, so the stored state never
// differs from what json.Marshal would store; TestEncodeRowMatchesJSON and FuzzEncodeRow hold
// it to that.
func encodeRow(r merge.Row) ([]byte, error) {
	b, ok := appendRow(make([]byte, 0, 4096), r, sortedKeys(r.Fields))
	if !ok {
		return json.Marshal(storedFormOf(r))
	}
	return b, nil
}

// appendRowDoc appends encodeRow(r) and then visibleDoc(r) to buf and returns both (slices
// of the result, which is returned too), sorting the field names once for both: what a
// snapshot load stores for every row.
func appendRowDoc(buf []byte, r merge.Row) (state, doc, out []byte, err error) {
	keys := sortedKeys(r.Fields)
	start := len(buf)
	buf, ok := appendRow(buf, r, keys)
	if ok {
		state = buf[start:len(buf):len(buf)]
	} else {
		buf = buf[:start]
		if state, err = json.Marshal(storedFormOf(r)); err != nil {
			return nil, nil, buf, err
		}
	}
	start = len(buf)
	buf = appendFields(buf, r.Fields, keys)
	return state, buf[start:len(buf):len(buf)], buf, nil
}

// encodeFields returns exactly the bytes of json.Marshal of the visible fields as a
// map[string]json.RawMessage (see visibleDoc).
func encodeFields(fields map[string]merge.Field) []byte {
	return appendFields(make([]byte, 0, 1024), fields, sortedKeys(fields))
}

// appendFields appends encodeFields(fields) to b; keys are the names of fields, sorted.
func appendFields(b []byte, fields map[string]merge.Field, keys []string) []byte {
	start := len(b)
	b = append(b, '{')
	ok := true
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b, ok = appendRaw(b, fields[k].Value)
		if !ok {
			break
		}
	}
	if !ok {
		m := make(map[string]json.RawMessage, len(fields))
		for k, f := range fields {
			m[k] = f.Value
		}
		out, _ := json.Marshal(m)
		return append(b[:start], out...)
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keysOf returns the keys of m, sorted: sorted itself if it holds exactly m's keys.
func keysOf[V any](m map[string]V, sorted []string) []string {
	if len(m) != len(sorted) {
		return sortedKeys(m)
	}
	for _, k := range sorted {
		if _, ok := m[k]; !ok {
			return sortedKeys(m)
		}
	}
	return sorted
}

// appendRow appends encodeRow(r); fieldKeys are the names of r.Fields, sorted.
func appendRow(b []byte, r merge.Row, fieldKeys []string) ([]byte, bool) {
	ok := true
	b = append(b, `{"entity":`...)
	b = appendString(b, string(r.Entity))
	b = append(b, `,"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"changes":`...)
	if r.Changes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range r.Changes {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendChange(b, c, fieldKeys); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"fields":`...)
	if r.Fields == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, k := range fieldKeys {
			if i > 0 {
				b = append(b, ',')
			}
			f := r.Fields[k]
			b = appendString(b, k)
			b = append(b, ':')
			ci := changeIndex(r.Changes, f.Version)
			if valueImplied(r.Changes, ci, k, f.Value) {
				b = strconv.AppendInt(b, int64(ci), 10)
				continue
			}
			b = append(b, `{"value":`...)
			if b, ok = appendRaw(b, f.Value); !ok {
				return b, false
			}
			b = append(b, `,"version":`...)
			b = appendVersion(b, ci, f.Version)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if r.Deleted != nil {
		b = append(b, `,"deleted":`...)
		b = appendVersion(b, changeIndex(r.Changes, *r.Deleted), *r.Deleted)
	}
	if len(r.Conflicts) > 0 {
		b = append(b, `,"conflicts":[`...)
		for i, c := range r.Conflicts {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"entity":`...)
			b = appendString(b, string(c.Entity))
			b = append(b, `,"entity_id":`...)
			b = appendString(b, c.EntityID)
			b = append(b, `,"field":`...)
			b = appendString(b, c.Field)
			b = append(b, `,"kind":`...)
			b = appendString(b, string(c.Kind))
			b = append(b, `,"change":`...)
			b = appendString(b, c.Change)
			b = append(b, `,"origin":`...)
			b = appendString(b, c.Origin)
			b = append(b, `,"actor":`...)
			b = appendString(b, c.Actor)
			b = append(b, `,"hlc":`...)
			b = appendString(b, c.HLC)
			b = append(b, `,"value":`...)
			if b, ok = appendRaw(b, c.Value); !ok {
				return b, false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

// appendVersion appends v in stored form: ci, the index of the row's change it is the
// version of, else (ci < 0) the version object.
func appendVersion(b []byte, ci int, v merge.Version) []byte {
	if ci >= 0 {
		return strconv.AppendInt(b, int64(ci), 10)
	}
	b = append(b, `{"hlc":`...)
	b = appendString(b, v.HLC)
	b = append(b, `,"change":`...)
	b = appendString(b, v.Change)
	return append(b, '}')
}

// appendChange appends c as json.Marshal does; fieldKeys (sorted) are used as c.Patch's
// keys when they are the same set, as for a row's first change, to spare sorting them again.
func appendChange(b []byte, c domain.Change, fieldKeys []string) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	if c.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, c.Seq, 10)
	}
	b = append(b, `,"origin":`...)
	b = appendString(b, c.Origin)
	b = append(b, `,"actor":`...)
	b = appendString(b, c.Actor)
	b = append(b, `,"entity":`...)
	b = appendString(b, string(c.Entity))
	b = append(b, `,"entity_id":`...)
	b = appendString(b, c.EntityID)
	b = append(b, `,"op":`...)
	b = appendString(b, string(c.Op))
	if c.Zone != "" {
		b = append(b, `,"zone":`...)
		b = appendString(b, c.Zone)
	}
	if len(c.Patch) > 0 {
		b = append(b, `,"patch":{`...)
		ok := true
		for i, k := range keysOf(c.Patch, fieldKeys) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, ok = appendRaw(b, c.Patch[k]); !ok {
				return b, false
			}
		}
		b = append(b, '}')
	}
	if c.HLC != "" {
		b = append(b, `,"hlc":`...)
		b = appendString(b, c.HLC)
	}
	b = append(b, `,"at":`...)
	if y := c.At.Year(); y < 0 || y >= 10000 {
		return b, false // json.Marshal reports the error
	}
	if _, off := c.At.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return b, false // json.Marshal refuses these offsets
	}
	b = append(b, '"')
	b = c.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(c.Base) > 0 {
		b = append(b, `,"base":{`...)
		for i, k := range sortedKeys(c.Base) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, c.Base[k])
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendString appends s as encoding/json does (HTML-escaped): the plain ASCII case inline,
// anything else through json.Marshal of the string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainASCII[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendRaw appends a raw JSON value as json.Marshal does for a json.RawMessage (nil: null;
// compacted, with <, >, &, U+2028 and U+2029 escaped inside strings). ok is false if v has
// whitespace outside strings or is not plainly well formed, left to json.Marshal.
func appendRaw(b []byte, v json.RawMessage) ([]byte, bool) {
	if v == nil {
		return append(b, "null"...), true
	}
	if len(v) == 0 || !plainString(v) && !json.Valid(v) {
		return b, false
	}
	// Copy runs of bytes as they are; only the bytes json.Marshal rewrites break a run.
	inString, escaped, run := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !inString {
			switch c {
			case ' ', '\t', '\n', '\r':
				return b, false
			case '"':
				inString = true
			}
			continue
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inString = false
		case c == '<' || c == '>' || c == '&':
			b = append(b, v[run:i]...)
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			run = i + 1
		case c == 0xE2 && i+2 < len(v) && v[i+1] == 0x80 && v[i+2]&^1 == 0xA8:
			b = append(b, v[run:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[v[i+2]&0xF])
			i += 2
			run = i + 1
		}
	}
	return append(b, v[run:]...), true
}

const hex = "0123456789abcdef"

// plainASCII[c] is whether json.Marshal writes byte c of a string as it is (printable
// ASCII other than the quote, the backslash and the HTML characters it escapes).
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// plainString reports whether v is a JSON string without escapes or control characters,
// valid without a full scan (the common patch value).
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
