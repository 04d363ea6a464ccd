package wire

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeCanonical checks DecodeFrame's one-pass path against the general one: whatever
// it accepts, the general decode accepts too, as the same frame. Seeds: the golden frames
// (indented, so the general path's) and Marshal's output of each, which the one-pass path
// must take.
func FuzzDecodeCanonical(f *testing.F) {
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if len(goldens) == 0 {
		f.Fatal("no golden frames")
	}
	lim := Limits{MaxFrameBytes: 1 << 20, MaxChanges: 50, MaxPatchFields: 32, MaxValueBytes: 4096}.withDefaults()
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		fr, err := decodeGeneral(b, lim)
		if err != nil {
			f.Fatalf("%s: %v", g, err)
		}
		enc, err := Marshal(fr)
		if err != nil {
			f.Fatal(err)
		}
		if _, ok := decodeCanonical(enc, &lim); !ok {
			f.Fatalf("%s: the one-pass decode does not take the frame Marshal wrote:\n%s", g, enc)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, ok := decodeCanonical(in, &lim)
		if !ok {
			return
		}
		g, err := decodeGeneral(in, lim)
		if err != nil {
			t.Fatalf("one-pass decode accepted what the general decode refuses (%v):\n%s", err, in)
		}
		if d := cmp.Diff(g, fr); d != "" {
			t.Fatalf("frames differ (-general +one-pass):\n%s", d)
		}
	})
}
