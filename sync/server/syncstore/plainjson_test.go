package syncstore

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// plainSamples are values at the edges of plainValue and encodesAs: canonical and not,
// escapes, HTML characters, numbers Marshal writes another way, times beyond microseconds,
// with an offset or out of Marshal's years, skills out of order.
var plainSamples = []string{`""`, `"x"`, `"a<b&c>"`, `"a\u003cb\u0026c\u003e"`, `"a\u003Cb"`, `"\u003"`, `"x\"`, `"caf\u00e9"`, `"café"`, `"tab\there"`, `"\ud800"`,
	`0`, `-0`, `1`, `1.0`, `1e2`, `2.5`, `-1`, `0.000001`, `0.0000001`, `1e21`, `100000000000000000000`,
	`9223372036854775807`, `9223372036854775808`, `01`, `true`, `false`, `null`, `[]`, `{}`, `[""]`, `[" x"]`,
	`["electric","water"]`, `["water","electric"]`, `["Water"]`, `["a", "b"]`, `["a",]`, `[,]`, `["a"`,
	`"2026-01-02T03:04:05Z"`, `"2026-01-02T03:04:05.123456Z"`, `"2026-01-02T03:04:05.000Z"`,
	`"2026-01-02T03:04:05.1234567Z"`, `"2026-01-02T05:04:05+02:00"`, `"0001-01-01T00:00:00Z"`,
	`"10000-01-01T00:00:00Z"`, `"not a time"`, `"open"`, `"TKT-000001"`, `[{"lat":1,"lng":2}]`}

// plainFieldTypes are the field types rows have, and some they do not.
var plainFieldTypes = []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[domain.Status](),
	reflect.TypeFor[*string](), reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[int8](),
	reflect.TypeFor[*int](), reflect.TypeFor[float64](), reflect.TypeFor[*float64](), reflect.TypeFor[[]string](),
	reflect.TypeFor[time.Time](), reflect.TypeFor[*time.Time](), reflect.TypeFor[[]domain.Point](),
	reflect.TypeFor[domain.Point](), reflect.TypeFor[uint](), reflect.TypeFor[float32]()}

// checkPlain holds plainValue and encodesAs to encoding/json for value v and field type t:
// plainValue must set what json.Unmarshal sets, and encodesAs may say yes only when
// json.Marshal writes that value as v (after merge.Canonical, as the hub compares).
func checkPlain(t *testing.T, typ reflect.Type, v []byte) {
	t.Helper()
	got := reflect.New(typ).Elem()
	if plainValue(got, v) {
		want := reflect.New(typ)
		if err := json.Unmarshal(v, want.Interface()); err != nil {
			t.Fatalf("plainValue took %s into %s, json.Unmarshal refuses it: %v", v, typ, err)
		}
		if g, w := mustJSON(got.Interface()), mustJSON(want.Elem().Interface()); g != w || isNil(got) != isNil(want.Elem()) {
			t.Fatalf("plainValue(%s) into %s = %s, json.Unmarshal gives %s", v, typ, g, w)
		}
	}
	for _, f := range []reflect.Value{got, decoded(typ, v)} {
		if !f.IsValid() || !encodesAs(f, v) {
			continue
		}
		b, err := json.Marshal(f.Interface())
		if err != nil {
			t.Fatalf("encodesAs(%s) says %s, json.Marshal fails: %v", mustJSON(f.Interface()), v, err)
		}
		a, err1 := merge.Canonical(b)
		w, err2 := merge.Canonical(v)
		if err1 != nil || err2 != nil || !bytes.Equal(a, w) {
			t.Fatalf("encodesAs says %s encodes as %s; json.Marshal writes %s", typ, v, b)
		}
	}
}

// decoded is v decoded into a typ by encoding/json, or the invalid Value.
func decoded(typ reflect.Type, v []byte) reflect.Value {
	p := reflect.New(typ)
	if json.Unmarshal(v, p.Interface()) != nil {
		return reflect.Value{}
	}
	return p.Elem()
}

// IsNil on a Value of a kind without nil is false.
func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return v.IsNil()
	}
	return false
}

func TestPlainValueAndEncodesAsAgreeWithEncodingJSON(t *testing.T) {
	taken := 0
	for _, typ := range plainFieldTypes {
		for _, s := range plainSamples {
			checkPlain(t, typ, []byte(s))
			if plainValue(reflect.New(typ).Elem(), []byte(s)) {
				taken++
			}
		}
	}
	if taken < 40 {
		t.Fatalf("plainValue took only %d of the samples: the fast path is not being exercised", taken)
	}
}

func FuzzPlainValue(f *testing.F) {
	for i, s := range plainSamples {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, ti uint8, v []byte) {
		checkPlain(t, plainFieldTypes[int(ti)%len(plainFieldTypes)], v)
	})
}

// TestPlainCanonicalAgreesWithEncoding: checkCanonical's shortcut (plainCanonical) never
// accepts a patch the general test (canonicalByEncoding) refuses, on random patches of every
// row type; and it does accept a create as the edges write it, which is what it is for.
func TestPlainCanonicalAgreesWithEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	checkPlainCanonical(t, r, NormalizeTicket)
	checkPlainCanonical(t, r, NormalizeTeam)
	checkPlainCanonical(t, r, NormalizeZone)
	checkPlainCanonical(t, r, NormalizeUser)

	now := time.Now().UTC().Truncate(time.Microsecond)
	lat, lng := 52.520008, 13.404954
	tk, err := domain.NewTicket(domain.NewTicketInput{Title: "Pole down <urgent> & leaning", Zone: "North",
		Description: "by the café", Location: "1 Main St", Skills: []string{"electric", "climbing"}, Lat: &lat, Lng: &lng}, now)
	if err != nil {
		t.Fatal(err)
	}
	tk = NormalizeTicket(tk)
	patch, err := domain.Diff(nil, tk)
	if err != nil {
		t.Fatal(err)
	}
	v, err := overlay[domain.Ticket](nil, maps.All(patch))
	if err != nil {
		t.Fatal(err)
	}
	n := NormalizeTicket(v)
	if !plainCanonical(fieldsOf(reflect.TypeFor[domain.Ticket]()), reflect.ValueOf(&n).Elem(), patch) {
		t.Fatalf("a create's patch %s does not take the plain path", mustJSON(patch))
	}
	if err := canonicalByEncoding(n, patch); err != nil {
		t.Fatal(err)
	}
}

func checkPlainCanonical[T any](t *testing.T, r *rand.Rand, norm func(T) T) {
	t.Helper()
	rf := fieldsOf(reflect.TypeFor[T]())
	var names []string
	for _, n := range rf.nameAt {
		if n != "" {
			names = append(names, n)
		}
	}
	accepted := 0
	for range 3000 {
		patch := map[string]json.RawMessage{}
		for range 1 + r.IntN(4) {
			patch[names[r.IntN(len(names))]] = json.RawMessage(plainSamples[r.IntN(len(plainSamples))])
		}
		v, err := overlay[T](nil, maps.All(patch))
		if err != nil {
			continue
		}
		n := norm(v)
		if !plainCanonical(rf, reflect.ValueOf(&n).Elem(), patch) {
			continue
		}
		accepted++
		if err := canonicalByEncoding(n, patch); err != nil {
			t.Fatalf("%T: plainCanonical accepts %s, the encoding refuses it: %v", n, mustJSON(patch), err)
		}
	}
	if accepted == 0 {
		t.Fatalf("%T: plainCanonical accepted no patch", *new(T))
	}
}
