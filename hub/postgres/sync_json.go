package postgres

import (
	"encoding/json"
	"slices"
)

// appendPatchJSON appends exactly what json.Marshal(patch) writes (keys sorted, values
// compacted, <, > and & and U+2028/U+2029 escaped in strings), without its reflection and
// per-value validation when every key and value is already in that form. Anything else falls
// back to json.Marshal. The log keeps these bytes, so they must not depend on the path taken.
func appendPatchJSON(dst []byte, patch map[string]json.RawMessage) ([]byte, error) {
	keys := make([]string, 0, len(patch))
	for k, v := range patch {
		if !plainJSONKey(k) || !marshalStable(v) {
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

// plainJSONKey reports whether json.Marshal writes k between quotes unchanged.
func plainJSONKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
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
// compact with plain keys, as appendPatchJSON writes it; ok is false otherwise.
func splitPatchJSON(b []byte) (m map[string]json.RawMessage, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	m = map[string]json.RawMessage{}
	i := 1
	if b[i] == '}' {
		return m, len(b) == 2
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				return nil, false
			}
			j++
		}
		if j+1 >= len(b) || b[j+1] != ':' {
			return nil, false
		}
		key := string(b[i+1 : j])
		start := j + 2
		end, ok := skipCompactValue(b, start)
		if !ok || end == start || end >= len(b) {
			return nil, false
		}
		if _, dup := m[key]; dup {
			return nil, false
		}
		m[key] = b[start:end:end]
		switch b[end] {
		case ',':
			i = end + 1
		case '}':
			return m, end+1 == len(b)
		default:
			return nil, false
		}
	}
}

// skipCompactValue returns the index after the compact JSON value starting at b[i]: the next
// ',' or closing bracket at its own level. Whitespace outside strings fails it.
func skipCompactValue(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return i, false
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
		case ',':
			if depth == 0 {
				return i, true
			}
		case ' ', '\t', '\n', '\r':
			return i, false
		}
	}
	return i, false
}
