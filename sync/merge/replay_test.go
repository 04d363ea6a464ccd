package merge_test

import (
	"encoding/json"
	"testing"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// applyAll is the definition Replay must match: Apply change by change from the zero row.
func applyAll(changes []domain.Change) (merge.Row, error) {
	var row merge.Row
	for _, c := range changes {
		var err error
		if row, _, err = merge.Apply(row, c); err != nil {
			return merge.Row{}, err
		}
	}
	return row, nil
}

func checkReplayMatchesApply(t *testing.T, cs []domain.Change) {
	t.Helper()
	want, werr := applyAll(cs)
	got, gerr := merge.Replay(cs)
	// Codes, not texts: which invalid field of a patch an error names follows map order.
	if (werr == nil) != (gerr == nil) || domain.ErrorCode(werr) != domain.ErrorCode(gerr) {
		t.Fatalf("Replay error %v, Apply one by one %v", gerr, werr)
	}
	if werr == nil && rowJSON(t, got) != rowJSON(t, want) {
		t.Fatalf("Replay built\n%s\nApply one by one\n%s", rowJSON(t, got), rowJSON(t, want))
	}
}

// FuzzReplay checks that Replay, which builds a row once, gives exactly the row (or the
// error) of applying the same changes one by one, with invalid changes, changes for another
// row and copies of a change under a lower or higher clock (a hub-clamped copy) mixed in.
func FuzzReplay(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x00\x00\x01\x05\x02\x01\x01\x02\x09\x04\x04\x02"), uint8(0))
	f.Add([]byte("\x00\x0a\x05\x04\x00\x01\x06\x05\x03\x01\x02\x10\x00\x00\x00\x01\x11\x07\x05\x02"), uint8(3))
	f.Add([]byte("\x01\x02\x03\x84\x00{\"x\":"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mix uint8) {
		cs := changesFrom(data)
		if len(cs) == 0 {
			return
		}
		// A copy of one change with a moved clock, placed after the original.
		c := cs[int(mix)%len(cs)]
		ts, err := hlc.Parse(c.HLC)
		if err == nil {
			if mix&0x10 != 0 {
				ts.Wall--
			} else {
				ts.Wall++
			}
			c.HLC = ts.String()
			c.Patch = map[string]json.RawMessage{"title": json.RawMessage(`"copy"`)}
			cs = append(cs, c)
		}
		if mix&0x20 != 0 {
			other := cs[0]
			other.EntityID = domain.NewID(t0)
			cs = append(cs, other)
		}
		checkReplayMatchesApply(t, cs)
	})
}

func TestReplayEmpty(t *testing.T) {
	checkReplayMatchesApply(t, nil)
}
