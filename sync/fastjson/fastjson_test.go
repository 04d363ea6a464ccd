package fastjson

import (
	"bytes"
	"encoding/json"
	"testing"
)

// canonicalSlow re-encodes v the way merge.Canonical does without the PlainScalar shortcut.
func canonicalSlow(v []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, json.Unmarshal([]byte("}"), &x)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// FuzzPlainScalar checks the shortcut: whatever it accepts is valid JSON that a full decode
// and encode returns unchanged.
func FuzzPlainScalar(f *testing.F) {
	for _, s := range []string{`"x"`, `"Broken pump"`, `"a\"b"`, `"a\\b"`, `"\u0041"`, `"<&>"`, `"é ü 漢"`, "\"\u2028\"", "\"\xff\"",
		"\"\x7f\"", "\"\x01\"", `""`, `"`, `0`, `-0`, `3.0`, `1e9`, `1E-9`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `1 `, ` 1`,
		`true`, `false`, `null`, `nul`, `{}`, `[]`, `{"b":1,"a":2}`, `"2026-01-02T03:04:05.123456Z"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) { checkShortcut(t, PlainScalar, v) })
}

// checkShortcut fails if plain accepts v and v is not valid JSON that a full decode and
// encode returns unchanged.
func checkShortcut(t *testing.T, plain func([]byte) bool, v []byte) {
	t.Helper()
	if !plain(v) {
		return
	}
	if !json.Valid(v) {
		t.Fatalf("shortcut accepted %q, which is not valid json", v)
	}
	got, err := canonicalSlow(v)
	if err != nil {
		t.Fatalf("shortcut accepted %q, which does not decode: %v", v, err)
	}
	if !bytes.Equal(got, v) {
		t.Fatalf("shortcut kept %q, canonical form is %q", v, got)
	}
}

// FuzzPlainList checks the list shortcut as FuzzPlainScalar checks the scalar one.
func FuzzPlainList(f *testing.F) {
	for _, s := range []string{`[]`, `["electric","water"]`, `["a",1,true,null,-2.5]`, `[1,]`, `[,1]`, `[1 ]`, `[[1]]`,
		`[{}]`, `["a\"b"]`, `["a"b"]`, `["a",`, `[`, `]`, "[\"\u2028\"]", `["<&>"]`, `[01]`, `[1][2]`, `[1]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) { checkShortcut(t, PlainList, v) })
}

func TestPlainListCoversSkills(t *testing.T) {
	for _, s := range []string{`[]`, `["electric"]`, `["climbing","electric","water"]`, `[1,2.5,null,true]`} {
		if !PlainList([]byte(s)) {
			t.Errorf("%s does not take the shortcut", s)
		}
	}
	for _, s := range []string{`[1,]`, `[ 1]`, `[[]]`, `[{}]`, `["a\"b"]`, `["a"b"]`, `[1]]`, `[`, `"a"`, ``} {
		if PlainList([]byte(s)) {
			t.Errorf("%q takes the shortcut", s)
		}
	}
}

// TestPlainScalarCoversCommonValues keeps the shortcut useful: the values patches carry
// most take it.
func TestPlainScalarCoversCommonValues(t *testing.T) {
	for _, s := range []string{`"Broken pump"`, `"é ü"`, `"<a&b>"`, `42`, `-1.5e3`, `true`, `null`, `"2026-01-02T03:04:05.123456Z"`, `[]`, `{}`} {
		if !PlainScalar([]byte(s)) {
			t.Errorf("%s does not take the shortcut", s)
		}
	}
	for _, s := range []string{`"a\"b"`, `"\u0041"`, "\"\u2028\"", "\"\xff\"", "\"\x01\"", `01`, `1.`, ` 1`, `[ ]`, `[1]`, `{"a":1}`, `"`, ``} {
		if PlainScalar([]byte(s)) {
			t.Errorf("%q takes the shortcut", s)
		}
	}
}
