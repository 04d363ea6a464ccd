package snapshot_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/snapshot"
)

// FuzzSnapshotReader feeds the reader arbitrary streams: as given (so checksums almost never
// match), and with every line's checksum recomputed (so the strict decoding behind it is
// reached). The reader must not panic, must fail only with its documented errors, and what
// it accepts must survive a round trip through the Writer.
func FuzzSnapshotReader(f *testing.F) {
	_, rows := testRows(f, 7, 12, 4)
	good := write(f, header(rows, 12), rows, 2)
	// The first byte says whether to reseal: odd, reseal.
	f.Add(append([]byte{0}, good...))
	f.Add(append([]byte{1}, good...))
	f.Add(append([]byte{0}, good[:len(good)/2]...))
	f.Add(append([]byte{1}, write(f, snapshot.Header{Zones: []string{"Empty"}}, nil, 1)...))
	f.Add(append([]byte{1}, `{"v":1,"type":"snapshot","data":{"zones":["a"],"cursor":0,"horizon":"","rows":0,"after":"","sum":"x"}}`+"\n"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		reseal := data[0]&1 == 1
		data = data[1:]
		if reseal {
			data = resum(strings.SplitAfter(string(data), "\n"))
		}
		lim := snapshot.Limits{MaxLineBytes: 1 << 16, MaxChunkRows: 50, MaxRowChanges: 50, MaxRows: 1000}
		r, err := snapshot.NewReader(bytes.NewReader(data), lim)
		if err != nil {
			checkReadError(t, err)
			return
		}
		got, err := readAll(r)
		if err != nil {
			checkReadError(t, err)
			return
		}
		h := r.Header()
		if h.After != "" {
			return // a resumed stream; its rows re-encode the same way, but need no second check
		}
		var buf bytes.Buffer
		w := snapshot.NewWriter(&buf, h)
		w.Limits = lim
		for _, row := range got {
			if err := w.Write(row); err != nil {
				t.Fatalf("accepted row does not write: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r2, err := snapshot.NewReader(&buf, lim)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readAll(r2)
		if err != nil {
			t.Fatal(err)
		}
		if d := rowsDiff(got, again); d != "" {
			t.Fatalf("round trip (-read +reread):\n%s", d)
		}
	})
}

func checkReadError(t *testing.T, err error) {
	t.Helper()
	var ce *snapshot.ChecksumError
	switch {
	case errors.As(err, &ce), errors.Is(err, snapshot.ErrTruncated):
	case domain.ErrorCode(err) == domain.CodeInvalid, domain.ErrorCode(err) == domain.CodeTooLarge:
	default:
		t.Fatalf("unexpected error kind: %v", err)
	}
}
