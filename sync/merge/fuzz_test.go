package merge_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/merge"
)

// changesFrom turns fuzz bytes into changes to one ticket, 5 bytes each: origin, clock,
// op and fields, value, base. A value byte with the high bit set takes the rest of the input
// as a raw (possibly invalid) JSON value.
func changesFrom(data []byte) []domain.Change {
	origins := []string{"hub", "edge-a", "edge-b"}
	fields := []string{"title", "status", "priority", "description"}
	values := []string{`"open"`, `"assigned"`, `"in_progress"`, `"on_hold"`, `"resolved"`, `"closed"`, `"cancelled"`, `"x"`, `null`, `{"b":1,"a":2}`, `3.0`}
	var cs []domain.Change
	for i := 0; len(data) >= 5 && i < 12; i++ {
		o, ms, op, v, b := data[0], data[1], data[2], data[3], data[4]
		data = data[5:]
		origin := origins[int(o)%len(origins)]
		c := domain.Change{ID: mkID(i), Origin: origin, Actor: "a", Entity: domain.EntityTicket, EntityID: ticketID,
			HLC: hlc.Timestamp{Wall: t0.UnixMilli() + int64(ms%32), Logical: uint32(ms / 128), Node: origin}.String(), At: t0}
		if op%8 == 0 {
			c.Op = domain.OpDelete
		} else {
			c.Op = domain.OpUpsert
			c.Patch = map[string]json.RawMessage{}
			for j, f := range fields {
				if op&(2<<j) != 0 {
					val := values[(int(v)+j)%len(values)]
					if v&0x80 != 0 {
						val = string(data)
					}
					c.Patch[f] = json.RawMessage(val)
				}
			}
			if len(c.Patch) == 0 {
				c.Patch["title"] = json.RawMessage(`"t"`)
			}
			if b%3 != 0 && ms%32 > 0 {
				c.Base = map[string]string{fields[int(b)%len(fields)]: hlc.Timestamp{Wall: t0.UnixMilli() + int64(b)%int64(ms%32), Node: origins[int(b)%len(origins)]}.String()}
			}
		}
		cs = append(cs, c)
	}
	return cs
}

// FuzzMerge checks that merge never panics, and that for the changes it accepts the row, its
// conflicts and its digest are the same in forward, reverse and rotated order, that the
// reported conflicts add up to the row's, and that re-applying changes nothing.
func FuzzMerge(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x00\x00\x01\x05\x02\x01\x01\x02\x09\x04\x04\x02"))
	f.Add([]byte("\x00\x0a\x05\x04\x00\x01\x06\x05\x03\x01\x02\x10\x00\x00\x00\x01\x11\x07\x05\x02"))
	f.Add([]byte("\x01\x02\x03\x84\x00{\"x\":"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs := changesFrom(data)
		var valid []domain.Change
		for _, c := range cs {
			if _, _, err := merge.Apply(merge.Row{}, c); err == nil {
				valid = append(valid, c)
			} else if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("Apply error %v, want CodeInvalid", err)
			}
		}
		if len(valid) == 0 {
			return
		}
		rotated := append(slices.Clone(valid[len(valid)/2:]), valid[:len(valid)/2]...)
		reversed := slices.Clone(valid)
		slices.Reverse(reversed)
		row := checkConverges(t, valid, [][]domain.Change{valid, reversed, rotated})
		checkInvariants(t, row)
		for _, c := range valid {
			next, res, err := merge.Apply(row, c)
			if err != nil || !res.Duplicate || rowJSON(t, next) != rowJSON(t, row) {
				t.Fatalf("re-apply %s: %+v %v", c.ID, res, err)
			}
		}
	})
}
