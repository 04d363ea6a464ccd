package sqlite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/fastjson"
)

// outboxSamples are changes as the outbox stores them (json.Marshal), in the forms the
// one-pass decoder reads and in those it must leave to encoding/json.
func outboxSamples() [][]byte {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456000, time.UTC)
	base := domain.Change{ID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D0", Origin: "edge-north", Actor: "u-1", Entity: domain.EntityTicket,
		EntityID: "01JXA8Q0M0V3N4Y5Z6A7B8C9D1", Op: domain.OpUpsert, Zone: "North", HLC: "01972b786d10-00000000-edge-north", At: at,
		Patch: map[string]json.RawMessage{"title": json.RawMessage(`"Pump"`), "priority": json.RawMessage(`"high"`)}}
	variants := []func(c *domain.Change){
		func(c *domain.Change) {},
		func(c *domain.Change) { c.Patch["title"] = json.RawMessage(`"a \"quoted\" <tag> & more"`) },
		func(c *domain.Change) { c.Patch["description"] = json.RawMessage(`"ünïcödé ✓\ttab"`) },
		func(c *domain.Change) { c.Seq = 42 },
		func(c *domain.Change) { c.Base = map[string]string{"title": "01972b786d0f-00000003-hub"} },
		func(c *domain.Change) { c.Zone, c.HLC = "", "" },
		func(c *domain.Change) { c.Op, c.Patch = domain.OpDelete, nil },
		func(c *domain.Change) { c.Patch["skills"] = json.RawMessage(`["electric","water"]`) },
		func(c *domain.Change) { c.At = at.In(time.FixedZone("x", 3600)) },
	}
	var out [][]byte
	for _, v := range variants {
		c := base
		c.Patch = map[string]json.RawMessage{}
		for k, p := range base.Patch {
			c.Patch[k] = p
		}
		v(&c)
		b, _ := json.Marshal(c)
		out = append(out, b)
	}
	return out
}

// TestOutboxDecodesAsEncodingJSON: Pending's decode of a stored change equals
// encoding/json's, whether the one-pass decoder reads it or hands it on.
func TestOutboxDecodesAsEncodingJSON(t *testing.T) {
	names := map[string]string{}
	for _, b := range outboxSamples() {
		checkOutboxDecode(t, b, names)
	}
	// Not only the fallback: a plain stored change is read in one pass.
	var c domain.Change
	if d := (fastjson.Decoder{B: outboxSamples()[0]}); !d.Change(&c) || !d.Done() {
		t.Error("the one-pass decoder does not read a plain stored change")
	}
}

// FuzzOutboxDecode holds the outbox decode to encoding/json for any bytes.
func FuzzOutboxDecode(f *testing.F) {
	for _, b := range outboxSamples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkOutboxDecode(t, b, map[string]string{}) })
}

func checkOutboxDecode(t *testing.T, b []byte, names map[string]string) {
	t.Helper()
	var want domain.Change
	werr := json.Unmarshal(b, &want)
	got, err := decodeOutboxChange(append([]byte(nil), b...), names)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%s: error %v, encoding/json %v", b, err, werr)
	}
	if err != nil {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-encoding/json +outbox):\n%s", b, diff)
	}
}

// BenchmarkOutboxDecode compares the push loop's decode of 1,000 stored changes (a batch)
// with encoding/json's, in the same run:
//
//	go test ./edge/sqlite -run '^$' -bench OutboxDecode
func BenchmarkOutboxDecode(b *testing.B) {
	var stored [][]byte
	for i := range 1000 {
		c := domain.Change{ID: domain.NewID(time.Now()), Origin: "edge-north", Actor: "01JXA8Q0M0V3N4Y5Z6A7B8C9D5",
			Entity: domain.EntityTicket, EntityID: domain.NewID(time.Now()), Op: domain.OpUpsert, Zone: "North",
			HLC: "01972b786d10-00000000-edge-north", At: time.Now().UTC().Truncate(time.Microsecond),
			Patch: map[string]json.RawMessage{
				"description": json.RawMessage(`"offline edit ` + time.Now().Format("150405.000000") + `"`),
				"updated_at":  json.RawMessage(`"2026-11-28T10:00:00.123456Z"`),
			},
			Base: map[string]string{"description": "01972b786d0f-00000003-hub"}}
		if i%10 == 0 {
			c.Patch["title"] = json.RawMessage(`"Pump <3> & \"valve\""`) // escaped: encoding/json's turn
		}
		s, _ := json.Marshal(c)
		stored = append(stored, s)
	}
	b.Run("outbox", func(b *testing.B) {
		for b.Loop() {
			names := map[string]string{}
			for _, s := range stored {
				if _, err := decodeOutboxChange(append([]byte(nil), s...), names); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			for _, s := range stored {
				var c domain.Change
				if err := json.Unmarshal(append([]byte(nil), s...), &c); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
