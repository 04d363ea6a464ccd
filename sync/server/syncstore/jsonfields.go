package syncstore

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// rowFields describes the top-level JSON fields of a row type, for overlay.
type rowFields struct {
	index map[string]int // JSON name -> struct field index
	names []string       // JSON names in struct order
	flat  bool           // no embedded structs: every JSON field is a top-level struct field
}

var rowFieldsCache sync.Map // reflect.Type -> *rowFields

func fieldsOf(t reflect.Type) *rowFields {
	if v, ok := rowFieldsCache.Load(t); ok {
		return v.(*rowFields)
	}
	rf := &rowFields{index: map[string]int{}, flat: true}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			rf.flat = false
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		rf.index[name] = i
		rf.names = append(rf.names, name)
	}
	v, _ := rowFieldsCache.LoadOrStore(t, rf)
	return v.(*rowFields)
}

// ObjectFields calls fn with each member of the compact JSON object b (as json.Marshal writes
// it: no whitespace, keys without escapes), in order; val is a slice of b. It returns false,
// having stopped, if b is not such an object; callers then decode b the ordinary way.
func ObjectFields(b []byte, fn func(key string, val []byte)) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i+1 == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				return false
			}
			j++
		}
		if j+1 >= len(b) || b[j+1] != ':' {
			return false
		}
		key := string(b[i+1 : j])
		start := j + 2
		end, ok := skipValue(b, start)
		if !ok || end == start || end >= len(b) {
			return false
		}
		fn(key, b[start:end])
		switch b[end] {
		case ',':
			i = end + 1
		case '}':
			return end+1 == len(b)
		default:
			return false
		}
	}
}

// skipValue returns the index after the compact JSON value starting at b[i]: the next ','
// or closing bracket at its own level. Whitespace outside strings fails it.
func skipValue(b []byte, i int) (int, bool) {
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

// appendObject appends {"k":v,…} for the given names of fields (keys need no escaping: they
// are struct tags or names checked by the caller).
func appendObject(dst []byte, names []string, fields map[string]json.RawMessage) []byte {
	dst = append(dst, '{')
	for i, n := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, n...)
		dst = append(dst, '"', ':')
		dst = append(dst, fields[n]...)
	}
	return append(dst, '}')
}

// PlainKey reports whether json.Marshal writes k between quotes unchanged.
func PlainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
