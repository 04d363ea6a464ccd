package wire_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// FuzzDecodeFrame checks that decoding never panics, fails only with CodeInvalid or
// CodeTooLarge, and that any frame it accepts re-encodes canonically: Marshal, decode again,
// and the frame and its bytes are unchanged. Seeds: testdata/fuzz/FuzzDecodeFrame (the golden
// frames, compressed and not, and corpus entries kept from fuzzing runs) plus the goldens.
func FuzzDecodeFrame(f *testing.F) {
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(gz(b))
	}
	lim := wire.Limits{MaxFrameBytes: 1 << 20, MaxChanges: 50, MaxPatchFields: 32, MaxValueBytes: 4096}
	relim := lim
	relim.MaxFrameBytes = 8 << 20 // re-encoding may escape characters the input sent raw
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := wire.ReadFrame(bytes.NewReader(in), lim)
		if err != nil {
			if c := domain.ErrorCode(err); c != domain.CodeInvalid && c != domain.CodeTooLarge {
				t.Fatalf("error code %s (%v), want invalid or too_large", c, err)
			}
			if fr != nil {
				t.Fatal("frame returned with an error")
			}
			return
		}
		enc, err := wire.Marshal(fr)
		if err != nil {
			t.Fatalf("accepted frame does not encode: %v", err)
		}
		fr2, err := wire.DecodeFrame(enc, relim)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v\n%s", err, enc)
		}
		if diff := cmp.Diff(fr, fr2); diff != "" {
			t.Fatalf("decode∘encode changed the frame (-first +second):\n%s", diff)
		}
		enc2, err := wire.Marshal(fr2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not canonical:\n%s\n%s", enc, enc2)
		}
	})
}
