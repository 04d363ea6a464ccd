package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

// fastTypes are the frame types fastFrame decodes.
var fastTypes = []Type{TypePush, TypeChanges, TypePullResponse}

// fastSeeds returns the data of frames of every fastTypes type as Marshal writes them: the
// golden frames, and frames whose changes hold values of every JSON kind.
func fastSeeds(tb testing.TB) map[Type][]byte {
	tb.Helper()
	lim := Limits{}.withDefaults()
	out := map[Type][]byte{}
	for name, t := range map[string]Type{"push": TypePush, "changes": TypeChanges, "pull_response": TypePullResponse} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			tb.Fatal(err)
		}
		f, err := decodeGeneral(b, lim)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out[t] = frameData(tb, f)
	}
	at := time.Date(2025, 6, 1, 8, 0, 0, 123456000, time.UTC)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	c := domain.Change{ID: "01JWN82D00FDRDXAAKG9SK3CMB", Origin: "edge-a", Actor: "Zoë <z>", Entity: domain.EntityTicket,
		EntityID: "01JWN82D05WX7S1PRKQ86A8YEW", Op: domain.OpUpsert, Zone: "Nörth & co",
		Patch: map[string]json.RawMessage{"title": raw(`"a \"quoted\" <b>&</b> title\u2028é"`), "lat": raw(`-12.5e+3`),
			"skills": raw(`["x","y"]`), "assigned_to": raw(`null`), "description": raw(`""`)},
		HLC: "01a221d5721b-00000006-edge-a", At: at, Base: map[string]string{"title": "01a221d5721a-00000001-edge-a"}}
	del := domain.Change{ID: "01JWN82D00FDRDXAAKG9SK3CMC", Origin: "edge-a", Actor: "tech", Entity: domain.EntityTicket,
		EntityID: "01JWN82D05WX7S1PRKQ86A8YEW", Op: domain.OpDelete, HLC: "01a221d5721c-00000000-edge-a", At: at}
	out["push-kinds"] = frameData(tb, &PushRequest{Node: "edge-a", Changes: []domain.Change{c, del}})
	out["pull-empty"] = frameData(tb, &PullResponse{Changes: []domain.Change{}, NextCursor: 3})
	logged := []domain.Change{c, del}
	logged[0].Seq, logged[1].Seq = 7, 9
	out["changes-kinds"] = frameData(tb, &FrameChanges{Changes: logged, Cursor: 12})
	out["pull-kinds"] = frameData(tb, &PullResponse{Changes: logged, NextCursor: 9, HasMore: true})
	return out
}

// frameData is the data member of f's envelope as Marshal writes it.
func frameData(tb testing.TB, f Frame) []byte {
	tb.Helper()
	b, err := Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	return b[len(envelopeHeads[f.FrameType()]) : len(b)-1]
}

// typeOf maps a fastSeeds key to its frame type.
func typeOf(key Type) Type {
	switch key {
	case "push-kinds":
		return TypePush
	case "changes-kinds":
		return TypeChanges
	case "pull-kinds", "pull-empty":
		return TypePullResponse
	}
	return key
}

// TestFastFrameTakesMarshal: the one-pass decode takes what Marshal writes (else the hub's
// push silently goes the slow way) and gives what encoding/json gives, with patch values
// that do not alias the frame.
func TestFastFrameTakesMarshal(t *testing.T) {
	for key, data := range fastSeeds(t) {
		typ := typeOf(key)
		got, ok := fastFrame(typ, data)
		if !ok {
			t.Fatalf("%s: fastFrame does not take Marshal's output:\n%s", key, data)
		}
		want := newFrame(typ)
		if err := strictUnmarshal(data, want); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s: frames differ (-encoding/json +fastFrame):\n%s", key, d)
		}
		for i := range data {
			data[i] = 'x' // the decoded frame must not change with its input
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s: decoded frame aliases its input:\n%s", key, d)
		}
	}
}

// FuzzFastFrame checks fastFrame against encoding/json: whatever it accepts, a strict
// encoding/json decode accepts too, as the same frame.
func FuzzFastFrame(f *testing.F) {
	for _, data := range fastSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, typ := range fastTypes {
			got, ok := fastFrame(typ, in)
			if !ok {
				continue
			}
			want := newFrame(typ)
			if err := strictUnmarshal(in, want); err != nil {
				t.Fatalf("fastFrame took a %s frame encoding/json refuses (%v):\n%s", typ, err, in)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("%s frames differ (-encoding/json +fastFrame):\n%s", typ, d)
			}
		}
	})
}

// BenchmarkDecodePush decodes a push of 1000 ticket changes (500 creates, 500 one-field
// edits, as in hub/postgres's BenchmarkSyncIngest) through DecodeFrame, and in the same run
// through the encoding/json path it takes for input not in Marshal's form:
//
//	go test ./sync/wire -run '^$' -bench DecodePush
func BenchmarkDecodePush(b *testing.B) {
	frame := benchPushFrame(b)
	lim := Limits{}.withDefaults()
	for _, path := range []struct {
		name   string
		decode func([]byte, Limits) (Frame, error)
	}{{"DecodeFrame", DecodeFrame}, {"encoding-json", decodeGeneral}} {
		b.Run(path.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := path.decode(frame, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadPush reads that push as the hub reads a request body (ReadAs), as sent and
// gzipped, so the cost of reading and inflating shows beside the decode's:
//
//	go test ./sync/wire -run '^$' -bench ReadPush -benchmem
func BenchmarkReadPush(b *testing.B) {
	frame := benchPushFrame(b)
	zipped, err := Gzip(frame)
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range []struct {
		name string
		body []byte
	}{{"plain", frame}, {"gzip", zipped}} {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadAs[*PushRequest](bytes.NewReader(in.body), Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchPushFrame is a push of 1000 ticket changes: 500 creates and 500 one-field edits.
func benchPushFrame(b *testing.B) []byte {
	at := time.Date(2025, 6, 1, 8, 0, 0, 123456000, time.UTC)
	var cs []domain.Change
	for i := range 1000 {
		c := domain.Change{ID: domain.NewID(at), Origin: "edge-bench", Actor: "tech", Entity: domain.EntityTicket,
			EntityID: domain.NewID(at), Op: domain.OpUpsert, Zone: "zone-1", HLC: "01a221d5721b-00000006-edge-bench", At: at}
		if i%2 == 0 {
			tk, _ := domain.NewTicket(domain.NewTicketInput{Title: "bench", Zone: "zone-1", Description: "a pole is down at the corner",
				Location: "1 Main St", Skills: []string{"electric"}}, at)
			tk.ID = c.EntityID
			c.Patch, _ = domain.Diff(nil, tk)
		} else {
			c.Patch = map[string]json.RawMessage{"title": json.RawMessage(`"edited"`)}
			c.Base = map[string]string{"title": "01a221d5721a-00000006-edge-bench"}
		}
		cs = append(cs, c)
	}
	frame, err := Marshal(&PushRequest{Node: "edge-bench", Changes: cs})
	if err != nil {
		b.Fatal(err)
	}
	return frame
}
