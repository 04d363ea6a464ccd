package postgres

import (
	"encoding/json"
	"slices"

	"github.com/aiff/aiff/sync/server/syncstore"
)

// appendPatchJSON appends exactly what json.Marshal(patch) writes (keys sorted, values
// compacted, <, > and & and U+2028/U+2029 escaped in strings), without its reflection and
// per-value validation when every key and value is already in that form. Anything else falls
// back to json.Marshal. The log keeps these bytes, so they must not depend on the path taken.
func appendPatchJSON(dst []byte, patch map[string]json.RawMessage) ([]byte, error) {
	keys := make([]string, 0, len(patch))
	for k, v := range patch {
		if !syncstore.PlainKey(k) || !marshalStable(v) {
			b, err := json.Marshal(patch)
			return append(dst, b...), err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		dst = append(dst, patch[k]...)
	}
	return append(dst, '}'), nil
}

// marshalStable reports whether json.Marshal writes raw value v unchanged: no whitespace
// outside strings, none of the characters it escapes inside them, quotes and brackets
// balanced. (The values reaching the log went through merge, which rejects invalid JSON.)
func marshalStable(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	inString, depth := false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inString {
			switch {
			case c == '\\':
				i++
			case c == '"':
				inString = false
			case c == '<' || c == '>' || c == '&' || c < 0x20:
				return false
			case c == 0xE2 && i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xA8 || v[i+2] == 0xA9):
				return false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth < 0 {
				return false
			}
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return !inString && depth == 0
}

// splitPatchJSON decodes a stored patch object into field values like json.Unmarshal into a
// map[string]json.RawMessage, slicing b (which the caller owns) rather than copying, when b is
// compact with plain keys and no key twice, as appendPatchJSON writes it; ok is false
// otherwise.
func splitPatchJSON(b []byte) (m map[string]json.RawMessage, ok bool) {
	m = map[string]json.RawMessage{}
	dup := false
	ok = syncstore.ObjectFields(b, func(key string, val []byte) {
		if _, seen := m[key]; seen {
			dup = true
		}
		m[key] = val[:len(val):len(val)]
	})
	if !ok || dup {
		return nil, false
	}
	return m, true
}
