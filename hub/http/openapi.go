package http

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
)

// The OpenAPI 3.1 document is generated from routeTable: paths, methods, role rules (as the
// x-roles extension), query parameters, and JSON Schemas reflected from the Go request and
// response types, so the document cannot drift from the code.

type schemaGen struct {
	defs map[string]any
}

var timeType = reflect.TypeFor[time.Time]()
var rawType = reflect.TypeFor[json.RawMessage]()

// ref returns the schema of t, adding named struct types to components/schemas.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	}
	if u := unwrapOpt(t); u != t {
		return nullable(g.ref(u))
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.ref(t.Elem()))
	case reflect.String:
		s := map[string]any{"type": "string"}
		if enum := enumOf(t); enum != nil {
			s["enum"] = enum
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.ref(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			if sub, ok := g.object(f.Type)["properties"].(map[string]any); ok {
				for k, v := range sub {
					props[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.ref(f.Type)
	}
	return map[string]any{"type": "object", "properties": props}
}

func nullable(s map[string]any) map[string]any {
	if t, ok := s["type"].(string); ok {
		c := map[string]any{}
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []string{t, "null"}
		if e, ok := c["enum"].([]string); ok {
			vals := make([]any, 0, len(e)+1)
			for _, v := range e {
				vals = append(vals, v)
			}
			c["enum"] = append(vals, nil)
		}
		return c
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// enumOf lists the values of the domain's string enums.
func enumOf(t reflect.Type) []string {
	switch t {
	case reflect.TypeFor[domain.Status]():
		return (toStrings(domain.Statuses))
	case reflect.TypeFor[domain.Priority]():
		return (toStrings(domain.Priorities))
	case reflect.TypeFor[domain.Role]():
		return (toStrings(domain.Roles))
	case reflect.TypeFor[domain.TeamStatus]():
		return []string{string(domain.TeamAvailable), string(domain.TeamBusy), string(domain.TeamOffline)}
	}
	return nil
}

func toStrings[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = string(s)
	}
	return out
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// schemaName is a readable component name: Ticket, PageTicket, listResponseZone → ZoneList.
func schemaName(t reflect.Type) string {
	n := t.Name()
	if base, arg, ok := strings.Cut(n, "["); ok {
		arg = arg[strings.LastIndex(arg, ".")+1:]
		arg = strings.TrimSuffix(arg, "]")
		if base == "listResponse" {
			return arg + "List"
		}
		return strings.ToUpper(base[:1]) + base[1:] + arg
	}
	n = nonWord.ReplaceAllString(n, "")
	return strings.ToUpper(n[:1]) + n[1:]
}

// operationID makes "/api/tickets/{id}" into "ApiTicketsId".
func operationID(pattern string) string {
	var b strings.Builder
	for _, w := range nonWord.Split(pattern, -1) {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// openAPIPath turns chi's pattern into an OpenAPI path template ("/*" becomes "/{path}").
func openAPIPath(p string) string {
	if strings.HasSuffix(p, "/*") {
		return strings.TrimSuffix(p, "*") + "{path}"
	}
	return p
}

func (s *Server) buildOpenAPI() []byte {
	g := &schemaGen{defs: map[string]any{}}
	g.ref(reflect.TypeFor[Problem]())
	paths := map[string]map[string]any{}
	for _, rt := range routeTable {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ToLower(rt.Method) + operationID(rt.Pattern),
			"tags":        []string{rt.Tag},
		}
		var params []any
		for _, seg := range strings.Split(openAPIPath(rt.Pattern), "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
					"schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range rt.Query {
			sch := map[string]any{"type": q.Type}
			if q.Type == "date-time" {
				sch = map[string]any{"type": "string", "format": "date-time"}
			}
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Doc, "schema": sch})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Public {
			op["security"] = []any{}
			op["x-roles"] = "public"
		} else {
			roles := map[string]string{}
			for _, role := range domain.Roles {
				roles[string(role)] = [...]string{"deny", "allow", "own-team"}[rt.Perms.Of(role)]
			}
			op["x-roles"] = roles
		}
		if rt.Body != nil {
			content := map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(rt.Body))}}
			if rt.Form {
				content["application/x-www-form-urlencoded"] = map[string]any{"schema": g.ref(reflect.TypeOf(rt.Body))}
			}
			op["requestBody"] = map[string]any{"required": true, "content": content}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		okResp := map[string]any{"description": http.StatusText(status)}
		switch {
		case rt.Resp != nil:
			okResp["content"] = map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(rt.Resp))}}
		case rt.Media != "":
			okResp["content"] = map[string]any{rt.Media: map[string]any{}}
		}
		problem := map[string]any{"description": "problem details (RFC 9457)",
			"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
		op["responses"] = map[string]any{strconv.Itoa(status): okResp, "default": problem}
		p := openAPIPath(rt.Pattern)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = op
	}
	var problemTypes []string
	for c := range problemKinds {
		problemTypes = append(problemTypes, ProblemType(c))
	}
	slices.Sort(problemTypes)
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "AIFF hub API",
			"version":     "1",
			"description": "Field-service tickets, teams and assignment. Errors are application/problem+json with a stable type (x-problem-types). Lists return {items, next_cursor, total}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
		},
		"security":        []any{map[string]any{"bearer": []string{}}},
		"x-problem-types": problemTypes,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("openapi: " + err.Error()) // only reachable through a programming error in the table
	}
	return b
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(s.openapi)
	return nil
}
