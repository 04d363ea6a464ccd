package syncstore

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// rowFields describes the top-level JSON fields of a row type, for overlay.
type rowFields struct {
	index     map[string]int // JSON name -> struct field index
	nameAt    []string       // struct field index -> JSON name ("" for a field JSON skips)
	omitEmpty []bool         // struct field index -> tagged omitempty
	flat      bool           // no embedded structs: every JSON field is a top-level struct field
}

var rowFieldsCache sync.Map // reflect.Type -> *rowFields

func fieldsOf(t reflect.Type) *rowFields {
	if v, ok := rowFieldsCache.Load(t); ok {
		return v.(*rowFields)
	}
	rf := &rowFields{index: map[string]int{}, nameAt: make([]string, t.NumField()), omitEmpty: make([]bool, t.NumField()), flat: true}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			rf.flat = false
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		rf.index[name] = i
		rf.nameAt[i] = name
		rf.omitEmpty[i] = slices.Contains(strings.Split(opts, ","), "omitempty")
	}
	v, _ := rowFieldsCache.LoadOrStore(t, rf)
	return v.(*rowFields)
}

// objectMembers calls fn with each member of the compact JSON object b (as json.Marshal
// writes it: no whitespace, keys without escapes), in order; key and val are slices of b (a
// map lookup by string(key) does not allocate). It returns false, having stopped, if b is not
// such an object; callers then decode b the ordinary way.
func objectMembers(b []byte, fn func(key, val []byte)) bool {
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
		key := b[i+1 : j]
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

// byIndex returns the JSON members of b, a compact object as json.Marshal writes a T (see
// objectMembers), by struct field index: nil for a field b does not hold. ok is false when b
// is not such an object or holds a name that is no field of T.
func (rf *rowFields) byIndex(b []byte) (vals [][]byte, ok bool) {
	vals = make([][]byte, len(rf.nameAt))
	known := true
	if !objectMembers(b, func(k, v []byte) {
		if i, ok := rf.index[string(k)]; ok {
			vals[i] = v
		} else {
			known = false
		}
	}) || !known {
		return nil, false
	}
	return vals, true
}

// appendObject appends {"k":v,…} for the fields of vals (by struct field index) that at
// says to write, in struct order (keys need no escaping: they are struct tags).
func (rf *rowFields) appendObject(dst []byte, vals []json.RawMessage, at []int) []byte {
	n := 2
	for _, i := range at {
		n += len(rf.nameAt[i]) + len(vals[i]) + 4
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, '{')
	for j, i := range at {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, rf.nameAt[i]...)
		dst = append(dst, '"', ':')
		dst = append(dst, vals[i]...)
	}
	return append(dst, '}')
}

// plainKey reports whether json.Marshal writes k between quotes unchanged.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// encoded reports whether json.Marshal writes struct field i holding f at all: not for a
// field JSON skips, nor for an empty omitempty one (encoding/json's isEmptyValue).
func (rf *rowFields) encoded(i int, f reflect.Value) bool {
	if rf.nameAt[i] == "" {
		return false
	}
	if !rf.omitEmpty[i] {
		return true
	}
	switch f.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return f.Len() != 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return !f.IsZero()
	}
	return true
}
