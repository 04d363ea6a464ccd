package wire

import "github.com/aiff/aiff/sync/fastjson"

// fastFrame decodes the data of a frame of type t in one pass (package fastjson) when it is
// one of the frames that carry changes, in exactly the form Marshal writes; ok is false for
// any other input, which then goes through encoding/json. Changes outlive the frame (a hub
// keeps merge states, an edge queues rows), so their patch values are copied out of data
// rather than keeping the whole frame alive.
func fastFrame(t Type, data []byte) (f Frame, ok bool) {
	d := &fastjson.Decoder{B: data, Names: make(map[string]string, 32), Own: true}
	switch t {
	case TypePush:
		p := &PushRequest{}
		if !d.Lit(`{"node":`) {
			return nil, false
		}
		if p.Node, ok = d.Str(); !ok || !d.Lit(`,"changes":`) {
			return nil, false
		}
		if p.Changes, ok = d.Changes(); !ok {
			return nil, false
		}
		f = p
	case TypeChanges:
		c := &FrameChanges{}
		if !d.Lit(`{"changes":`) {
			return nil, false
		}
		if c.Changes, ok = d.Changes(); !ok || !d.Lit(`,"cursor":`) {
			return nil, false
		}
		if c.Cursor, ok = d.Int(); !ok {
			return nil, false
		}
		f = c
	case TypePullResponse:
		p := &PullResponse{}
		if !d.Lit(`{"changes":`) {
			return nil, false
		}
		if p.Changes, ok = d.Changes(); !ok || !d.Lit(`,"next_cursor":`) {
			return nil, false
		}
		if p.NextCursor, ok = d.Int(); !ok || !d.Lit(`,"has_more":`) {
			return nil, false
		}
		if p.HasMore, ok = d.Bool(); !ok {
			return nil, false
		}
		f = p
	default:
		return nil, false
	}
	if !d.Lit("}") || !d.Done() {
		return nil, false
	}
	return f, true
}
