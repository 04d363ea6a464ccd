package wire_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var at = time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)

func ts(node string, ms int64, logical uint32) string {
	return hlc.Timestamp{Wall: at.UnixMilli() + ms, Logical: logical, Node: node}.String()
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// exampleChanges returns an upsert and a delete as the hub's log holds them.
func exampleChanges() []domain.Change {
	return []domain.Change{
		{
			ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D0", Seq: 41, Origin: "edge-north", Actor: "tech.ana",
			Entity: domain.EntityTicket, EntityID: "01JXA7ZZZZ1111111111111111", Op: domain.OpUpsert,
			Zone:  "North",
			Patch: map[string]json.RawMessage{"status": raw(`"on_hold"`), "description": raw(`"waiting for <parts> & cable"`)},
			HLC:   ts("edge-north", 0, 0), At: at,
			Base: map[string]string{"status": ts("hub", -60000, 2), "description": ts("hub", -90000, 0)},
		},
		{
			ID: "01JXA8Q1000000000000000000", Seq: 42, Origin: "hub", Actor: "dispatcher.bo",
			Entity: domain.EntityTeam, EntityID: "01JXA6AAAAAAAAAAAAAAAAAAAA", Op: domain.OpDelete,
			Zone: "North", HLC: ts("hub", 1000, 0), At: at.Add(time.Second),
		},
	}
}

func pushChange() domain.Change {
	c := exampleChanges()[0]
	c.Seq = 0
	return c
}

func examples() map[string]wire.Frame {
	return map[string]wire.Frame{
		"changes":   &wire.FrameChanges{Changes: exampleChanges(), Cursor: 42},
		"ready":     &wire.FrameReady{Cursor: 42},
		"heartbeat": &wire.FrameHeartbeat{Cursor: 42, Time: at.Add(15 * time.Second)},
		"ack":       &wire.FrameAck{Cursor: 42},
		"error":     &wire.FrameError{Code: domain.CodeUnavailable, Detail: "subscriber too slow; resume from your cursor", Retry: true},
		"push":      &wire.PushRequest{Node: "edge-north", Changes: []domain.Change{pushChange()}},
		"push_result": &wire.PushResponse{
			Results: []wire.Result{
				{ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D0", Status: wire.Accepted, Seq: 43},
				{ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D1", Status: wire.Duplicate, Seq: 17},
				{ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D2", Status: wire.Clamped, Seq: 44, HLC: ts("hub", 2000, 0)},
				{ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D3", Status: wire.Rejected, Code: domain.CodeInvalid, Error: "unknown zone \"Nowhere\""},
			},
			Cursor: 44, HLC: ts("hub", 2000, 1),
		},
		"pull_response": &wire.PullResponse{Changes: exampleChanges(), NextCursor: 42, HasMore: true},
	}
}

func TestGolden(t *testing.T) {
	for name, f := range examples() {
		t.Run(name, func(t *testing.T) {
			b, err := wire.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				writeSeed(t, "golden-"+name, b)
				writeSeed(t, "golden-"+name+"-gzip", gz(b))
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
				t.Errorf("encoding changed (-golden +got); run go test -update if intended:\n%s", diff)
			}
			got, err := wire.ReadFrame(bytes.NewReader(want), wire.Limits{})
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if diff := cmp.Diff(f, got); diff != "" {
				t.Errorf("decoded golden differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteToAndGzip(t *testing.T) {
	f := examples()["pull_response"]
	var plain bytes.Buffer
	n, err := f.WriteTo(&plain)
	if err != nil || n != int64(plain.Len()) {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	var zipped bytes.Buffer
	if _, err := wire.WriteFrame(&zipped, f, true); err != nil {
		t.Fatal(err)
	}
	if !wire.IsGzip(zipped.Bytes()) || wire.IsGzip(plain.Bytes()) {
		t.Fatal("gzip detection is wrong")
	}
	for _, in := range [][]byte{plain.Bytes(), zipped.Bytes()} {
		got, err := wire.ReadAs[*wire.PullResponse](bytes.NewReader(in), wire.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if _, err := wire.ReadAs[*wire.PushRequest](bytes.NewReader(plain.Bytes()), wire.Limits{}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("ReadAs wrong type = %v, want invalid", err)
	}
}

// TestReadFrameReusesNothingItReturns: ReadFrame's buffers and decompressor are reused from
// frame to frame, so what it returned before must not change when the next frame is read,
// whether each is gzipped or not, in either decode path (Marshal's form, or any other).
func TestReadFrameReusesNothingItReturns(t *testing.T) {
	frame := func(title string, indent bool) []byte {
		c := pushChange()
		c.Patch = map[string]json.RawMessage{"title": raw(strconv.Quote(title)), "description": raw(`"` + strings.Repeat(title, 200) + `"`)}
		b, err := wire.Marshal(&wire.PushRequest{Node: "edge-north", Changes: []domain.Change{c}})
		if err != nil {
			t.Fatal(err)
		}
		if indent { // not Marshal's form: the encoding/json path
			var out bytes.Buffer
			json.Indent(&out, b, "", " ")
			b = out.Bytes()
		}
		return b
	}
	type read struct {
		req  *wire.PushRequest
		want string
	}
	var reads []read
	for i, in := range [][]byte{frame("first", false), gz(frame("second", false)), frame("third", true), gz(frame("fourth", true)), frame("fifth", false)} {
		req, err := wire.ReadAs[*wire.PushRequest](bytes.NewReader(in), wire.Limits{})
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		reads = append(reads, read{req, string(req.Changes[0].Patch["title"]) + string(req.Changes[0].Patch["description"])})
	}
	for i, r := range reads {
		if got := string(r.req.Changes[0].Patch["title"]) + string(r.req.Changes[0].Patch["description"]); got != r.want {
			t.Errorf("frame %d changed after later reads: %.40s…, was %.40s…", i, got, r.want)
		}
	}
}

func gz(b []byte) []byte {
	out, err := wire.Gzip(b)
	if err != nil {
		panic(err)
	}
	return out
}

func TestLimits(t *testing.T) {
	lim := wire.Limits{MaxFrameBytes: 4096, MaxChanges: 2, MaxPatchFields: 2, MaxValueBytes: 64}
	push := func(n int, patch map[string]json.RawMessage) []byte {
		p := &wire.PushRequest{Node: "edge-north"}
		for i := range n {
			c := pushChange()
			c.ID = domain.NewID(at.Add(time.Duration(i) * time.Millisecond))
			c.Base = nil
			if patch != nil {
				c.Patch = patch
			}
			p.Changes = append(p.Changes, c)
		}
		b, err := wire.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	big := bytes.Repeat([]byte(" "), 5000)
	bomb := gz(append(push(1, nil), bytes.Repeat([]byte(" "), 10<<20)...)) // 10 MiB inflated, ~10 KiB sent
	randomish := make([]byte, 6000)
	for i := range randomish {
		randomish[i] = byte(i*7919 + i*i)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want domain.Code
	}{
		{"fits", push(2, nil), ""},
		{"too many changes", push(3, nil), domain.CodeTooLarge},
		{"too many fields", push(1, map[string]json.RawMessage{"title": raw(`"a"`), "category": raw(`"repair"`), "location": raw(`"x"`)}), domain.CodeTooLarge},
		{"value too large", push(1, map[string]json.RawMessage{"title": raw(`"` + strings.Repeat("a", 100) + `"`)}), domain.CodeTooLarge},
		{"frame too large", append(push(1, nil), big...), domain.CodeTooLarge},
		{"gzip fits", gz(push(2, nil)), ""},
		{"gzip bomb", bomb, domain.CodeTooLarge},
		{"compressed input too large", gz(randomish), domain.CodeTooLarge},
		{"truncated gzip", gz(push(1, nil))[:30], domain.CodeInvalid},
		{"gzip of garbage", gz([]byte("hello")), domain.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wire.ReadFrame(bytes.NewReader(tc.in), lim)
			if got := domain.ErrorCode(err); got != tc.want {
				t.Errorf("code = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// TestDecodeRejects edits a valid push and checks each bad input is refused with CodeInvalid
// and, where there is one, the offending field.
func TestDecodeRejects(t *testing.T) {
	valid, err := wire.Marshal(examples()["push"])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(valid, &doc); err != nil {
		t.Fatal(err)
	}
	change := func(edit func(c map[string]any)) []byte {
		var d map[string]any
		json.Unmarshal(valid, &d)
		c := d["data"].(map[string]any)["changes"].([]any)[0].(map[string]any)
		edit(c)
		b, _ := json.Marshal(d)
		return b
	}
	envelope := func(edit func(d map[string]any)) []byte {
		var d map[string]any
		json.Unmarshal(valid, &d)
		edit(d)
		b, _ := json.Marshal(d)
		return b
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		field string
	}{
		{"not json", []byte("{"), ""},
		{"empty", nil, ""},
		{"array", []byte("[]"), ""},
		{"trailing data", append(append([]byte{}, valid...), []byte(` {}`)...), ""},
		{"version 2", envelope(func(d map[string]any) { d["v"] = 2 }), "v"},
		{"no version", envelope(func(d map[string]any) { delete(d, "v") }), "v"},
		{"unknown type", envelope(func(d map[string]any) { d["type"] = "nope" }), "type"},
		{"no data", envelope(func(d map[string]any) { delete(d, "data") }), "data"},
		{"unknown envelope field", envelope(func(d map[string]any) { d["extra"] = 1 }), ""},
		{"unknown data field", envelope(func(d map[string]any) { d["data"].(map[string]any)["extra"] = 1 }), ""},
		{"unknown change field", change(func(c map[string]any) { c["extra"] = 1 }), ""},
		{"wrong type", change(func(c map[string]any) { c["seq"] = "1" }), "changes.seq"},
		{"bad ulid", change(func(c map[string]any) { c["id"] = "01JXA8Q0M0V3N4Y5Z6A7B8C9DU" }), "changes[0].id"},
		{"lower-case ulid", change(func(c map[string]any) { c["id"] = strings.ToLower(c["id"].(string)) }), "changes[0].id"},
		{"seq in push", change(func(c map[string]any) { c["seq"] = 5 }), "changes[0].seq"},
		{"unknown entity", change(func(c map[string]any) { c["entity"] = "invoice" }), "changes[0].entity"},
		{"unknown op", change(func(c map[string]any) { c["op"] = "merge" }), "changes[0].op"},
		{"delete with patch", change(func(c map[string]any) { c["op"] = "delete" }), "changes[0].patch"},
		{"upsert without patch", change(func(c map[string]any) { delete(c, "patch") }), "changes[0].patch"},
		{"unknown patch field", change(func(c map[string]any) { c["patch"].(map[string]any)["colour"] = "red" }), "changes[0].patch"},
		{"bad status", change(func(c map[string]any) { c["patch"].(map[string]any)["status"] = "reopened" }), "changes[0].patch.status"},
		{"id mismatch", change(func(c map[string]any) { c["patch"].(map[string]any)["id"] = "other" }), "changes[0].patch.id"},
		{"no hlc", change(func(c map[string]any) { delete(c, "hlc") }), "changes[0].hlc"},
		{"bad hlc", change(func(c map[string]any) { c["hlc"] = "yesterday" }), "changes[0].hlc"},
		{"hlc of another node", change(func(c map[string]any) { c["hlc"] = ts("edge-south", 0, 0) }), "changes[0].hlc"},
		{"base after hlc", change(func(c map[string]any) { c["base"].(map[string]any)["status"] = ts("hub", 5, 0) }), "changes[0].base.status"},
		{"base unknown field", change(func(c map[string]any) { c["base"].(map[string]any)["colour"] = ts("hub", -5, 0) }), "changes[0].base"},
		{"no origin", change(func(c map[string]any) { c["origin"] = "" }), "changes[0].origin"},
		{"origin with space", change(func(c map[string]any) { c["origin"] = "edge one" }), "changes[0].origin"},
		{"no actor", change(func(c map[string]any) { c["actor"] = "" }), "changes[0].actor"},
		{"control char", change(func(c map[string]any) { c["actor"] = "a\x00b" }), "changes[0].actor"},
		{"no at", change(func(c map[string]any) { delete(c, "at") }), "changes[0].at"},
		{"bad at", change(func(c map[string]any) { c["at"] = "noon" }), ""},
		{"no changes", envelope(func(d map[string]any) { d["data"].(map[string]any)["changes"] = []any{} }), "changes"},
		{"bad node", envelope(func(d map[string]any) { d["data"].(map[string]any)["node"] = "" }), "node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := wire.DecodeFrame(tc.in, wire.Limits{})
			if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("DecodeFrame = %v, %v; want CodeInvalid", f, err)
			}
			if tc.field != "" && domain.ErrorField(err) != tc.field {
				t.Errorf("field = %q, want %q (%v)", domain.ErrorField(err), tc.field, err)
			}
		})
	}
}

func TestDuplicateIDsAndSeqOrder(t *testing.T) {
	cs := exampleChanges()
	cs[1].ID = cs[0].ID
	if _, err := wire.Marshal(&wire.FrameChanges{Changes: cs, Cursor: 42}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("duplicate id: %v", err)
	}
	cs = exampleChanges()
	cs[1].Seq = cs[0].Seq
	if _, err := wire.Marshal(&wire.PullResponse{Changes: cs, NextCursor: 42}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("seq not increasing: %v", err)
	}
	if _, err := wire.Marshal(&wire.FrameChanges{Changes: exampleChanges(), Cursor: 41}); domain.ErrorField(err) != "cursor" {
		t.Errorf("cursor before last change: %v", err)
	}
}

func TestErrorFrame(t *testing.T) {
	f := wire.NewErrorFrame(domain.FieldErrorf("cursor", "cursor is ahead of the log"))
	if f.Code != domain.CodeInvalid || f.Field != "cursor" || f.Retry {
		t.Errorf("NewErrorFrame = %+v", f)
	}
	if domain.ErrorCode(f.Err()) != domain.CodeInvalid {
		t.Error("Err lost the code")
	}
	internal := wire.NewErrorFrame(os.ErrClosed)
	if internal.Code != domain.CodeInternal || internal.Detail != "internal error" || !internal.Retry {
		t.Errorf("internal error frame = %+v", internal)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	f.WriteTo(zw)
	zw.Close()
	got, err := wire.ReadAs[*wire.FrameError](&buf, wire.Limits{})
	if err != nil || got.Detail != f.Detail {
		t.Errorf("round trip = %+v, %v", got, err)
	}
}

// writeSeed stores b as a FuzzDecodeFrame seed corpus file.
func writeSeed(t *testing.T, name string, b []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeFrame")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTimeAtTheEdges(t *testing.T) {
	b, _ := wire.Marshal(examples()["heartbeat"])
	for in, ok := range map[string]bool{
		"2025-06-01T12:30:15Z":      true,
		"2025-06-01T14:30:15+02:00": true,
		"9999-12-31T23:59:59-01:00": false, // year 10000 in UTC cannot be encoded
		"1970-01-01T00:30:00+01:00": false, // before 1970 in UTC
	} {
		doc := strings.Replace(string(b), "2025-06-01T12:30:15Z", in, 1)
		f, err := wire.DecodeFrame([]byte(doc), wire.Limits{})
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok %v", in, err, ok)
		}
		if err == nil {
			if _, err := wire.Marshal(f); err != nil {
				t.Errorf("%s: accepted but does not encode: %v", in, err)
			}
		}
	}
}
