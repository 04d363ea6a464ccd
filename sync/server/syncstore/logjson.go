package syncstore

import (
	"encoding/json"
	"slices"
	"strings"
)

// The log's JSON: how a hub store writes a change's patch and base into its log and reads a
// patch back. Both stores once wrote them with json.Marshal and read them with
// json.Unmarshal, which cost more than the rest of appending a change; these write and read
// the same bytes, by hand where the input allows, so stored logs do not depend on the path.

// AppendPatchJSON appends exactly what json.Marshal(patch) writes, the form a hub store logs
// a change's patch in (keys sorted, values compacted, <, > and & and U+2028/U+2029 escaped in
// strings), without its reflection and per-value validation when every key and value is
// already in that form. Anything else falls back to json.Marshal.
func AppendPatchJSON(dst []byte, patch map[string]json.RawMessage) ([]byte, error) {
	var buf [32]member[json.RawMessage] // a ticket create's patch has ~20 fields
	ms, n := buf[:0], 2
	for k, v := range patch {
		if !plainKey(k) || !marshalStable(v) {
			b, err := json.Marshal(patch)
			return append(dst, b...), err
		}
		ms = append(ms, member[json.RawMessage]{k, v})
		n += len(k) + len(v) + 4
	}
	return appendSorted(slices.Grow(dst, n), ms, func(dst []byte, v json.RawMessage) []byte { return append(dst, v...) }), nil
}

// AppendBaseJSON appends exactly what json.Marshal(base) writes (keys sorted), by hand when
// no key or clock needs escaping (clocks are printable ASCII, but a node name may hold
// characters json.Marshal escapes), else through json.Marshal.
func AppendBaseJSON(dst []byte, base map[string]string) []byte {
	var buf [8]member[string]
	ms := buf[:0]
	for k, v := range base {
		if !plainKey(k) || !plainKey(v) {
			b, _ := json.Marshal(base) // a map of strings always encodes
			return append(dst, b...)
		}
		ms = append(ms, member[string]{k, v})
	}
	return appendSorted(dst, ms, func(dst []byte, v string) []byte { return append(append(append(dst, '"'), v...), '"') })
}

// member is one key and value of a map being written as a JSON object.
type member[V any] struct {
	k string
	v V
}

// appendSorted appends ms as a JSON object with its keys (which need no escaping) sorted, each
// value written by value. The members are collected in one pass over the map and sorted in
// place, rather than sorting its keys and looking each one up again.
func appendSorted[V any](dst []byte, ms []member[V], value func([]byte, V) []byte) []byte {
	slices.SortFunc(ms, func(a, b member[V]) int { return strings.Compare(a.k, b.k) })
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, '"'), m.k...), '"', ':')
		dst = value(dst, m.v)
	}
	return append(dst, '}')
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

// SplitPatchJSON decodes a stored patch object into field values like json.Unmarshal into a
// map[string]json.RawMessage, slicing b (which the caller owns) rather than copying, when b is
// compact with plain keys and no key twice, as AppendPatchJSON writes it; ok is false
// otherwise.
func SplitPatchJSON(b []byte) (m map[string]json.RawMessage, ok bool) {
	m = map[string]json.RawMessage{}
	dup := false
	ok = objectMembers(b, func(key, val []byte) {
		if _, seen := m[string(key)]; seen {
			dup = true
		}
		m[string(key)] = val[:len(val):len(val)]
	})
	if !ok || dup {
		return nil, false
	}
	return m, true
}
