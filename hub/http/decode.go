package http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
)

// decodeJSON reads the request body into v strictly: JSON media type, at most MaxBodyBytes
// (413), exactly one JSON value (trailing data refused), no unknown fields, and type errors
// reported as 400 naming the field. Handlers decode fully before touching the store, so a bad
// request never writes anything.
func (s *Server) decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return domain.Errorf(codeUnsupportedMediaType, "content type %q is not application/json", ct)
		}
	}
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	return decodeStrict(data, v)
}

func (s *Server) readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(mbe.Limit)
	case err != nil:
		return nil, domain.Errorf(domain.CodeInvalid, "could not read request body")
	}
	return data, nil
}

func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return domain.Errorf(domain.CodeInvalid, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, data, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Errorf(domain.CodeInvalid, "unexpected data after the JSON body")
	}
	if f, ok := findNUL(reflect.ValueOf(v), ""); ok {
		return domain.FieldErrorf(f, "%s may not contain NUL characters", f)
	}
	return nil
}

// findNUL reports the first JSON field whose string value holds a NUL character. Text columns
// cannot store NUL (Postgres refuses it), so it is refused here, naming the field, instead of
// failing in the driver.
func findNUL(v reflect.Value, field string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findNUL(v.Elem(), field)
		}
	case reflect.String:
		if strings.ContainsRune(v.String(), 0) {
			return field, true
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if f, ok := findNUL(v.Index(i), field); ok {
				return f, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if f, ok := findNUL(it.Value(), field); ok {
				return f, true
			}
		}
	case reflect.Struct:
		if unwrapOpt(v.Type()) != v.Type() {
			return findNUL(v.FieldByName("Value"), field)
		}
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" {
				name = sf.Name
			}
			if field != "" {
				name = field + "." + name
			}
			if f, ok := findNUL(v.Field(i), name); ok {
				return f, true
			}
		}
	}
	return "", false
}

// jsonError turns an encoding/json error into a user-safe *domain.Error naming the field.
func jsonError(err error, data []byte, v any) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return domain.Errorf(domain.CodeInvalid, "malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Errorf(domain.CodeInvalid, "malformed JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return domain.FieldErrorf(f, "unknown field %q", f)
	case errors.As(err, &te) && te.Field != "":
		return domain.FieldErrorf(te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	case errors.As(err, &te) && firstByte(data) != '{':
		return domain.Errorf(domain.CodeInvalid, "request body must be a JSON object, not %s", te.Value)
	}
	// Errors from custom unmarshalers (optional fields, times, enums) carry no field name:
	// find it by decoding each top-level member on its own.
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) == nil {
		t := reflect.TypeOf(v).Elem()
		for k, raw := range members {
			one, _ := json.Marshal(map[string]json.RawMessage{k: raw})
			if json.Unmarshal(one, reflect.New(t).Interface()) != nil {
				what := "an invalid value"
				if f, ok := fieldType(t, k); ok {
					what = "not " + jsonKind(f)
				}
				return domain.FieldErrorf(k, "%s has %s", k, what)
			}
		}
	}
	return domain.Errorf(domain.CodeInvalid, "invalid JSON body")
}

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// fieldType returns the Go type behind JSON member name of struct t, unwrapping domain.Opt.
func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name {
			return unwrapOpt(f.Type), true
		}
	}
	return nil, false
}

// unwrapOpt returns T for domain.Opt[T] and t otherwise.
func unwrapOpt(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Struct && t.PkgPath() == optPkg && strings.HasPrefix(t.Name(), "Opt[") {
		if f, ok := t.FieldByName("Value"); ok {
			return f.Type
		}
	}
	return t
}

var optPkg = reflect.TypeFor[domain.Opt[int]]().PkgPath()

// jsonKind names the JSON shape expected for a Go type, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct:
		if u := unwrapOpt(t); u != t {
			return jsonKind(u)
		}
		return "an object"
	case reflect.Map:
		return "an object"
	}
	return "a valid value"
}

// setFields lists the JSON names of the domain.Opt fields of struct v that were present in the
// input, in declaration order.
func setFields(v any) []string {
	rv := reflect.ValueOf(v)
	var out []string
	for i := range rv.NumField() {
		f := rv.Field(i)
		if unwrapOpt(f.Type()) == f.Type() {
			continue
		}
		if f.FieldByName("Set").Bool() {
			tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			out = append(out, tag)
		}
	}
	return out
}

// Query parsing. Each helper reports errors naming the parameter.

func queryList(q map[string][]string, name string) []string {
	v := strings.TrimSpace(first(q[name]))
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func queryTime(q map[string][]string, name string) (*time.Time, error) {
	v := strings.TrimSpace(first(q[name]))
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, domain.FieldErrorf(name, "%s must be an RFC 3339 time or YYYY-MM-DD", name)
}

func queryBool(q map[string][]string, name string) (*bool, error) {
	v := strings.TrimSpace(first(q[name]))
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, domain.FieldErrorf(name, "%s must be true or false", name)
	}
	return &b, nil
}

// maxLimit mirrors the stores' page cap; asking for more is an error, not a silent clamp.
const maxLimit = 500

func queryLimit(q map[string][]string) (int, error) {
	v := strings.TrimSpace(first(q["limit"]))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, domain.FieldErrorf("limit", "limit must be an integer from 1 to %d", maxLimit)
	}
	return n, nil
}

// checkCursor refuses cursors that cannot have come from a previous page (the stores encode
// them as base64url JSON), before the store sees them.
func checkCursor(c string) error {
	if c == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil || len(c) > 1024 || !json.Valid(b) {
		return domain.FieldErrorf("cursor", "cursor is not one this server issued")
	}
	return nil
}

func oneOf[T ~string](name string, vals []string, valid func(T) bool) ([]T, error) {
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		if !valid(T(v)) {
			return nil, domain.FieldErrorf(name, "unknown %s %q", name, v)
		}
		out = append(out, T(v))
	}
	return out, nil
}
