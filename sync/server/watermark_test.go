package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// fakeClock is a settable clock shared by the hub store and the handler.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// edgeToken mints an edge credential for zones.
func (hb *hub) edgeToken(name string, zones ...string) string {
	hb.t.Helper()
	_, tok, err := hb.store.CreateEdgeCredential(hb.ctx, syncstore.EdgeCredential{Name: name, Zones: zones})
	if err != nil {
		hb.t.Fatal(err)
	}
	return tok
}

// deleteOf makes an edge delete change of the ticket created by create.
func (hb *hub) deleteOf(create domain.Change) domain.Change {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return domain.Change{ID: domain.NewID(now), Origin: hb.edge.Node, Actor: "tech", Entity: domain.EntityTicket,
		EntityID: create.EntityID, Op: domain.OpDelete, Zone: create.Zone, HLC: hb.edge.Now().String(), At: now}
}

// rowLogged reports how many changes of the row the log holds.
func (hb *hub) rowLogged(k syncstore.RowKey) int {
	hb.t.Helper()
	all, _ := hb.pullAll(hb.admin, 0)
	n := 0
	for _, c := range all {
		if c.Entity == k.Entity && c.EntityID == k.ID {
			n++
		}
	}
	return n
}

// ackAll pulls everything with tok and then pulls once more from the head: a pull's cursor
// is what acknowledges the changes before it.
func (hb *hub) ackAll(tok string) int64 {
	hb.t.Helper()
	_, head := hb.pullAll(tok, 0)
	hb.pull(tok, head, 1)
	return head
}

func (hb *hub) collect(c *server.Compaction) syncstore.TombstoneStats {
	hb.t.Helper()
	st, err := c.Once(hb.ctx, 0)
	if err != nil {
		hb.t.Fatal(err)
	}
	return st.Tombstones
}

func TestTombstonePurgedOnlyOnceEveryHolderAcked(t *testing.T) {
	hb := newHub(t, nil)
	north2 := hb.edgeToken("edge-north2", "north")
	south := hb.edgeToken("edge-south", "south")
	// Every replica has synced once (south only to cursor 0: it holds nothing of north).
	for _, tok := range []string{hb.north, north2, south} {
		hb.pull(tok, 0, 10)
	}
	create := hb.ticket("north", "to be deleted")
	hb.push(hb.north, create)
	res := hb.push(hb.north, hb.deleteOf(create))
	if res.Results[0].Status != wire.Accepted {
		t.Fatalf("delete: %+v", res.Results[0])
	}
	key := syncstore.RowKey{Entity: domain.EntityTicket, ID: create.EntityID}
	comp := &server.Compaction{Store: hb.store}

	hb.ackAll(hb.north) // edge-north acknowledges the delete; edge-north2 does not
	if st := hb.collect(comp); st.Purged != 0 || st.Tombstones != 1 {
		t.Fatalf("collected %+v while edge-north2 has not acknowledged the delete", st)
	}
	logged := hb.rowLogged(key)
	if logged < 2 {
		t.Fatalf("log holds %d changes of the deleted row, want all of them", logged)
	}

	head := hb.ackAll(north2) // now every holder has it; south never held the row
	if st := hb.collect(comp); st.Purged != 1 || st.Changes != logged {
		t.Fatalf("collected %+v, want the row and its %d changes purged", st, logged)
	}
	if n := hb.rowLogged(key); n != 0 {
		t.Fatalf("log still holds %d changes of the purged row", n)
	}

	// Never resurrected: a retried push of its changes is a duplicate, a late edit refused.
	res = hb.push(hb.north, create)
	if r := res.Results[0]; r.Status != wire.Duplicate {
		t.Errorf("retried create of a purged row: %+v, want duplicate", r)
	}
	late := hb.ticket("north", "late edit")
	late.EntityID = create.EntityID
	late.Patch = map[string]json.RawMessage{"title": json.RawMessage(`"resurrected?"`)}
	res = hb.push(north2, late)
	if r := res.Results[0]; r.Status != wire.Rejected || r.Code != domain.CodeConflict {
		t.Errorf("late edit of a purged row: %+v, want rejected conflict", r)
	}
	if _, err := hb.store.GetTicket(hb.ctx, create.EntityID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("purged ticket: %v, want not found", err)
	}
	if cs, _ := hb.pullAll(north2, head); len(cs) != 0 {
		t.Errorf("late replica received %d changes after the purge, want none", len(cs))
	}
}

func TestSilentReplicaStopsHoldingTombstonesAndMustRebootstrap(t *testing.T) {
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Microsecond)}
	hb := newHub(t, func(h *server.Handler) { h.Now = clock.Now })
	hb.store.Now = clock.Now
	silent := hb.edgeToken("edge-silent", "north")
	_, old := hb.pullAll(silent, 0)

	create := hb.ticket("north", "deleted while edge-silent sleeps")
	hb.push(hb.north, create, hb.deleteOf(create))
	clock.Add(2 * time.Hour)
	hb.ackAll(hb.north)

	comp := &server.Compaction{Store: hb.store, Now: clock.Now, ReplicaHorizon: time.Hour}
	st := hb.collect(comp)
	if fmt.Sprint(st.Stale) != "[edge-silent]" || st.Purged != 1 {
		rs, _ := hb.store.Replicas(hb.ctx)
		t.Fatalf("collected %+v, want edge-silent stale and the tombstone purged; replicas %+v", st, rs)
	}

	// Its pull and stream are refused with the re-bootstrap problem type.
	resp, body := hb.do("GET", fmt.Sprintf("/api/sync/pull?cursor=%d", old), silent, nil)
	wantProblem(t, resp, body, 409, syncstore.ProblemCursorBehindHorizon, "")
	if _, resp, err := hb.dial(silent, old, false, nil); err == nil || resp == nil || resp.StatusCode != 409 {
		t.Errorf("stream of a stale replica: %v, want 409", err)
	}

	// A snapshot makes it live again, from the snapshot's cursor on.
	resp, body = hb.do("GET", "/api/sync/snapshot", silent, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("snapshot: %d %s", resp.StatusCode, body)
	}
	hdr, rows := readSnapshot(t, bytes.NewReader(body))
	for _, r := range rows {
		if r.ID == create.EntityID {
			t.Errorf("snapshot carries the purged row")
		}
	}
	resp, body = hb.do("GET", fmt.Sprintf("/api/sync/pull?cursor=%d", old), silent, nil)
	wantProblem(t, resp, body, 409, syncstore.ProblemCursorBehindHorizon, "")
	hb.pull(silent, hdr.Cursor, 10)
}

func TestStreamAcksRecordTheWatermark(t *testing.T) {
	hb := newHub(t, nil)
	c, _, err := hb.dial(hb.north, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.untilReady()
	hb.push(hb.north, hb.ticket("north", "acked"))
	var cursor int64
	for cursor == 0 {
		f, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ch, ok := f.(*wire.FrameChanges); ok {
			cursor = ch.Cursor
		}
	}
	b, _ := wire.Marshal(&wire.FrameAck{Cursor: cursor})
	if err := c.conn.Write(hb.ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, err := hb.store.Replicas(hb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 1 && rs[0].Node == "edge-north" && rs[0].Cursor == cursor {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas %+v, want edge-north at cursor %d", rs, cursor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
