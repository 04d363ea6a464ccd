package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/integrity"
)

func (hb *hub) getJSON(path, token string, v any) {
	hb.t.Helper()
	resp, b := hb.do("GET", path, token, nil)
	if resp.StatusCode != 200 {
		hb.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		hb.t.Fatalf("GET %s: %v", path, err)
	}
}

func TestBucketsAtACursor(t *testing.T) {
	hb := newHub(t, nil)
	var creates []string
	for i := range 10 {
		c := hb.ticket("north", fmt.Sprintf("t%d", i))
		hb.push(hb.north, c)
		creates = append(creates, c.EntityID)
	}
	hb.push(hb.admin, hb.ticket("south", "elsewhere"))
	c1, _ := hb.store.LastSeq(hb.ctx)
	edit := hb.ticket("north", "edit")
	edit.EntityID, edit.Patch = creates[4], map[string]json.RawMessage{"title": json.RawMessage(`"edited"`)}
	hb.push(hb.north, edit)

	var atC1, atHead integrity.Report
	hb.getJSON(fmt.Sprintf("/api/sync/buckets?zone=north&cursor=%d", c1), hb.north, &atC1)
	hb.getJSON("/api/sync/buckets?zone=north", hb.north, &atHead)
	digest, head := hb.digest(hb.north, "north")
	if atHead.Digest != digest || atHead.Cursor != head || atC1.Cursor != c1 {
		t.Errorf("head report %s at %d, digest %s at %d; c1 report at %d", atHead.Digest, atHead.Cursor, digest, head, atC1.Cursor)
	}
	if atC1.Rows != 11 || atHead.Rows != 11 { // ten tickets and the zone
		t.Errorf("rows %d and %d, want 11", atC1.Rows, atHead.Rows)
	}
	want := []string{integrity.BucketOf(domain.EntityTicket, creates[4])}
	if got := integrity.Diff(atC1.Buckets, atHead.Buckets); !slices.Equal(got, want) {
		t.Errorf("buckets differing between c1 and head: %v, want %v", got, want)
	}

	var rows integrity.BucketRows
	hb.getJSON(fmt.Sprintf("/api/sync/buckets/%s?zone=north&cursor=%d", want[0], c1), hb.north, &rows)
	found := false
	for _, r := range rows.Rows {
		if integrity.BucketOf(r.Entity, r.ID) != want[0] {
			t.Errorf("row %s/%s is not in bucket %s", r.Entity, r.ID, want[0])
		}
		for _, c := range r.Changes {
			if c.Seq <= 0 || c.Seq > c1 {
				t.Errorf("change %s at seq %d, want 1..%d", c.ID, c.Seq, c1)
			}
		}
		found = found || r.ID == creates[4]
	}
	if !found {
		t.Errorf("bucket rows lack ticket %s", creates[4])
	}

	south := hb.edgeToken("edge-south", "south")
	resp, body := hb.do("GET", "/api/sync/buckets?zone=north", south, nil)
	wantProblem(t, resp, body, 403, "forbidden", "")
	resp, body = hb.do("GET", "/api/sync/buckets/zz?zone=north", hb.north, nil)
	wantProblem(t, resp, body, 400, "invalid", "bucket")
	resp, body = hb.do("GET", fmt.Sprintf("/api/sync/buckets?zone=north&cursor=%d", head+1), hb.north, nil)
	wantProblem(t, resp, body, 400, "invalid", "cursor")
}
