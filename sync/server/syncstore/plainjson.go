package syncstore

import (
	"bytes"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/aiff/aiff/sync/fastjson"
)

// Most patch values are plain: a string without escapes, a time in the hub's own form, a
// null, a small number, a list of plain strings. For those, decoding into a row field and
// checking that json.Marshal would write the value back unchanged need no encoding/json:
// plainValue and encodesAs do both by hand, and report false for anything else, which the
// callers then hand to encoding/json as before. Push runs them for every field of every
// change, where encoding/json's reflection walk over the whole row was a third of its CPU.

var (
	timeType    = reflect.TypeFor[time.Time]()
	stringsType = reflect.TypeFor[[]string]()
)

// plainValue sets f, a settable field value, to what json.Unmarshal of v into a zero value
// of its type gives, when v is plain and f's type one it knows. It allocates what it sets
// (pointers, slices, strings) and never writes through a pointer f already holds. On false
// it may have changed f.
func plainValue(f reflect.Value, v []byte) bool {
	if len(v) == 0 {
		return false
	}
	t := f.Type()
	switch {
	case t == timeType:
		if v[0] != '"' {
			return false
		}
		var tm time.Time
		if tm.UnmarshalJSON(v) != nil {
			return false
		}
		f.Set(reflect.ValueOf(tm))
		return true
	case t.Kind() == reflect.Pointer:
		if string(v) == "null" {
			f.SetZero()
			return true
		}
		p := reflect.New(t.Elem())
		if !plainValue(p.Elem(), v) {
			return false
		}
		f.Set(p)
		return true
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := plainStringValue(v)
		if !ok {
			return false
		}
		f.SetString(s)
	case reflect.Bool:
		switch string(v) {
		case "true":
			f.SetBool(true)
		case "false":
			f.SetBool(false)
		default:
			return false
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !plainNumber(v) {
			return false
		}
		n, err := strconv.ParseInt(string(v), 10, t.Bits())
		if err != nil {
			return false
		}
		f.SetInt(n)
	case reflect.Float64:
		if !plainNumber(v) {
			return false
		}
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return false
		}
		f.SetFloat(x)
	case reflect.Slice:
		if t != stringsType {
			return false
		}
		if string(v) == "null" {
			f.SetZero()
			return true
		}
		n, ok := plainStrings(v, nil)
		if !ok {
			return false
		}
		s := make([]string, 0, n)
		plainStrings(v, func(e []byte) { s = append(s, string(e)) })
		f.Set(reflect.ValueOf(s))
	default:
		return false
	}
	return true
}

// encodesAs reports whether json.Marshal writes f's value as exactly v, HTML escaping aside
// (the hub compares values after merge.Canonical, which does not escape). False means no or
// not known: a type or value it does not cover.
func encodesAs(f reflect.Value, v []byte) bool {
	if len(v) == 0 {
		return false
	}
	t := f.Type()
	switch {
	case t == timeType:
		tm := f.Interface().(time.Time)
		if y := tm.Year(); y < 0 || y > 9999 || len(v) < 2 || v[0] != '"' {
			return false // Marshal refuses such years
		}
		var buf [48]byte
		b := append(tm.AppendFormat(append(buf[:0], '"'), time.RFC3339Nano), '"')
		return string(b) == string(v)
	case t.Kind() == reflect.Pointer:
		if f.IsNil() {
			return string(v) == "null"
		}
		return encodesAs(f.Elem(), v)
	}
	var buf [32]byte
	switch t.Kind() {
	case reflect.String:
		if bytes.IndexByte(v, '\\') < 0 {
			return plainString(v) && f.String() == string(v[1:len(v)-1])
		}
		s, ok := plainStringValue(v)
		return ok && f.String() == s
	case reflect.Bool:
		return string(strconv.AppendBool(buf[:0], f.Bool())) == string(v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return string(strconv.AppendInt(buf[:0], f.Int(), 10)) == string(v)
	case reflect.Float64:
		x := f.Float()
		if a := math.Abs(x); math.IsNaN(x) || math.IsInf(x, 0) || a != 0 && (a < 1e-6 || a >= 1e21) {
			return false // Marshal refuses these or writes them with an exponent
		}
		return string(strconv.AppendFloat(buf[:0], x, 'f', -1, 64)) == string(v)
	case reflect.Slice:
		if t != stringsType {
			return false
		}
		if f.IsNil() {
			return string(v) == "null"
		}
		i, same := 0, true
		n, ok := plainStrings(v, func(e []byte) {
			same = same && i < f.Len() && f.Index(i).String() == string(e)
			i++
		})
		return ok && same && n == f.Len()
	}
	return false
}

// plainString reports whether v is a JSON string that decodes to the bytes between its
// quotes (fastjson.PlainScalar's strings).
func plainString(v []byte) bool {
	return len(v) >= 2 && v[0] == '"' && fastjson.PlainScalar(v)
}

// plainStringValue decodes v, a plain JSON string (plainString) or one whose only escapes
// are the three json.Marshal writes for HTML (\u003c, \u003e, \u0026: an edge's patch of
// "Pump & valve" holds one).
func plainStringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		if !fastjson.PlainScalar(v) {
			return "", false
		}
		return string(v[1 : len(v)-1]), true
	}
	b := make([]byte, 1, len(v))
	b[0] = '"'
	for i := 1; i < len(v)-1; i++ {
		if v[i] != '\\' {
			b = append(b, v[i])
			continue
		}
		switch string(v[i:min(i+6, len(v)-1)]) {
		case `\u003c`:
			b = append(b, '<')
		case `\u003e`:
			b = append(b, '>')
		case `\u0026`:
			b = append(b, '&')
		default:
			return "", false
		}
		i += 5
	}
	b = append(b, '"')
	if !fastjson.PlainScalar(b) {
		return "", false
	}
	return string(b[1 : len(b)-1]), true
}

// plainNumber reports whether v is a JSON number.
func plainNumber(v []byte) bool {
	return (v[0] == '-' || '0' <= v[0] && v[0] <= '9') && fastjson.PlainScalar(v)
}

// plainStrings walks v, a compact JSON array of plain strings (a fastjson.PlainList of
// strings only), calling each (if not nil) with every element's bytes between quotes; it
// returns their number, or false if v is not such an array.
func plainStrings(v []byte, each func([]byte)) (int, bool) {
	if !fastjson.PlainList(v) {
		return 0, false
	}
	n := 0
	// A PlainList's strings hold no quote: each element ends at the next one.
	for i := 1; i < len(v)-1; n++ {
		if v[i] != '"' {
			return 0, false // a number, true, false or null
		}
		j := i + 1 + bytes.IndexByte(v[i+1:], '"')
		if each != nil {
			each(v[i+1 : j])
		}
		i = j + 2 // past the quote and the comma (or the closing bracket)
	}
	return n, true
}
