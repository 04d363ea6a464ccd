package snapshot

import (
	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/fastjson"
)

// Fast decoding of chunk lines. A bootstrap reads millions of rows, and encoding/json spent
// most of the reader's time there: it scans each line three times (envelope, data, rows) and
// decodes by reflection. fastChunk decodes a chunk line in one pass, but only in the exact
// form a Writer produces (compact, members in the Writer's order, strings without escapes);
// for anything else it reports !ok and the line goes through encoding/json as before. When it
// succeeds its result is what encoding/json would decode, so a stream is accepted, refused
// and normalized exactly as before: the rows go through the same checks either way.

const fastChunkPrefix = `{"v":1,"type":"` + TypeChunk + `","data":{"index":`

// fastChunk decodes a chunk line (its sum member included) written by a Writer. names, if
// not nil, interns the strings that repeat from row to row (field names, origins, actors,
// entities, ops, zones), so that each is allocated once per stream rather than once per row.
func fastChunk(line []byte, names map[string]string) (index int, last string, rows []Row, ok bool) {
	d := &fastjson.Decoder{B: line, Names: names}
	if !d.Lit(fastChunkPrefix) {
		return 0, "", nil, false
	}
	n, ok := d.Int()
	if !ok || n > 1<<31 || !d.Lit(`,"last":`) {
		return 0, "", nil, false
	}
	if last, ok = d.Str(); !ok || !d.Lit(`,"rows":[`) {
		return 0, "", nil, false
	}
	rows = make([]Row, 0, 64)
	for {
		var r Row
		if !fastRow(d, &r) {
			return 0, "", nil, false
		}
		rows = append(rows, r)
		if d.Lit(",") {
			continue
		}
		if !d.Lit(`],"sum":`) {
			return 0, "", nil, false
		}
		break
	}
	if _, ok := d.StrBytes(); !ok || !d.Lit("}}") || !d.Done() {
		return 0, "", nil, false
	}
	return int(n), last, rows, true
}

// fastRow reads {"entity":…,"id":…,"changes":[…]}.
func fastRow(d *fastjson.Decoder, r *Row) bool {
	if !d.Lit(`{"entity":`) {
		return false
	}
	e, ok := d.Name()
	if !ok || !d.Lit(`,"id":`) {
		return false
	}
	r.Entity = domain.Entity(e)
	if r.ID, ok = d.Str(); !ok || !d.Lit(`,"changes":[`) {
		return false
	}
	r.Changes = make([]domain.Change, 0, 1)
	if d.Lit("]") {
		return d.Lit("}")
	}
	for {
		r.Changes = append(r.Changes, domain.Change{})
		if !d.Change(&r.Changes[len(r.Changes)-1]) {
			return false
		}
		if d.Lit(",") {
			continue
		}
		return d.Lit("]}")
	}
}
