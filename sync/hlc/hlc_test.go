package hlc_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// fakeWall is an injectable wall clock that tests move by hand.
type fakeWall struct{ t time.Time }

func (f *fakeWall) now() time.Time { return f.t }

func newClock(node string, start time.Time) (*hlc.Clock, *fakeWall) {
	w := &fakeWall{t: start}
	c := hlc.NewClock(node)
	c.Wall = w.now
	return c, w
}

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func randNode(r *rand.Rand) string {
	const chars = "abcz09-_.:~!AZ"
	n := 1 + r.IntN(8)
	var b strings.Builder
	for range n {
		b.WriteByte(chars[r.IntN(len(chars))])
	}
	return b.String()
}

func randTimestamp(r *rand.Rand) hlc.Timestamp {
	var w int64
	switch r.IntN(4) {
	case 0:
		w = r.Int64N(hlc.MaxWall + 1)
	case 1:
		w = r.Int64N(4) // tiny values exercise leading zeros
	default:
		w = epoch.UnixMilli() + r.Int64N(5)
	}
	var l uint32
	switch r.IntN(3) {
	case 0:
		l = r.Uint32()
	case 1:
		l = math.MaxUint32 - uint32(r.IntN(2))
	default:
		l = uint32(r.IntN(3))
	}
	return hlc.Timestamp{Wall: w, Logical: l, Node: randNode(r)}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestEncodeRoundTripAndOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		a, b := randTimestamp(r), randTimestamp(r)
		if r.IntN(4) == 0 { // share prefixes so the node tie-break is exercised
			b.Wall, b.Logical = a.Wall, a.Logical
		}
		for _, ts := range []hlc.Timestamp{a, b} {
			if want := fmt.Sprintf("%012x-%08x-%s", ts.Wall, ts.Logical, ts.Node); ts.String() != want {
				t.Fatalf("String() = %q, want %q", ts.String(), want)
			}
			got, err := hlc.Parse(ts.String())
			if err != nil || got != ts {
				t.Fatalf("Parse(%q) = %v, %v; want %v", ts.String(), got, err, ts)
			}
			txt, err := ts.MarshalText()
			if err != nil || string(txt) != ts.String() {
				t.Fatalf("MarshalText(%v) = %q, %v", ts, txt, err)
			}
		}
		if got, want := sign(strings.Compare(a.String(), b.String())), a.Compare(b); got != want {
			t.Fatalf("order of encodings %q vs %q is %d, order of values is %d", a, b, got, want)
		}
		if a.Less(b) != (a.Compare(b) < 0) {
			t.Fatalf("Less disagrees with Compare for %v %v", a, b)
		}
	}
}

func TestParseRejects(t *testing.T) {
	valid := hlc.Timestamp{Wall: 1, Logical: 2, Node: "n"}.String()
	for _, s := range []string{
		"", "x", valid[:len(valid)-1], // no node
		"00000000000A-00000000-n",
		"000000000001_00000000-n",
		"000000000001-0000000g-n",
		"1000000000000-0000000-n",
		"000000000001-00000000-has space",
		"000000000001-00000000-" + strings.Repeat("n", hlc.MaxNodeLen+1),
		"000000000001-00000000-é",
		"+00000000001-00000000-n",
	} {
		if ts, err := hlc.Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want error", s, ts)
		} else if domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("Parse(%q) code = %s, want invalid", s, domain.ErrorCode(err))
		}
	}
	if _, err := (hlc.Timestamp{Wall: 1}).MarshalText(); err == nil {
		t.Error("MarshalText without node: want error")
	}
	if _, err := (hlc.Timestamp{Wall: hlc.MaxWall + 1, Node: "n"}).MarshalText(); err == nil {
		t.Error("MarshalText beyond MaxWall: want error")
	}
}

// TestNowMonotonic drives a clock with a wall time that jumps forward, stands still and steps
// back, and checks that every reading is strictly later than the one before.
func TestNowMonotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c, w := newClock("edge-1", epoch)
	prev := c.Now()
	for i := 0; i < 50000; i++ {
		switch r.IntN(4) {
		case 0:
			w.t = w.t.Add(time.Duration(r.IntN(5)) * time.Millisecond)
		case 1:
			w.t = w.t.Add(-time.Duration(r.IntN(2000)) * time.Millisecond)
		}
		ts := c.Now()
		if !prev.Less(ts) {
			t.Fatalf("step %d: %v not after %v", i, ts, prev)
		}
		if ts.Node != "edge-1" {
			t.Fatalf("node = %q", ts.Node)
		}
		prev = ts
	}
}

func TestLogicalOverflowCarries(t *testing.T) {
	c, _ := newClock("n", epoch)
	c.Observe(hlc.Timestamp{Wall: epoch.UnixMilli(), Logical: math.MaxUint32})
	a := c.Now()
	if want := (hlc.Timestamp{Wall: epoch.UnixMilli() + 1, Node: "n"}); a != want {
		t.Fatalf("Now after max logical = %v, want %v", a, want)
	}
	b, err := c.Update(hlc.Timestamp{Wall: a.Wall, Logical: math.MaxUint32, Node: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Less(b) || b.Wall != a.Wall+1 || b.Logical != 0 {
		t.Fatalf("Update with max logical = %v", b)
	}
}

// TestCausality simulates nodes with drifting wall clocks exchanging messages at random. For
// every message, the receive event must sort after the send event (happened-before is kept),
// and each node's readings must be strictly increasing.
func TestCausality(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const nodes = 5
	var clocks [nodes]*hlc.Clock
	var walls [nodes]*fakeWall
	var last [nodes]hlc.Timestamp
	for i := range clocks {
		clocks[i], walls[i] = newClock(string(rune('a'+i)), epoch.Add(time.Duration(r.IntN(40000)-20000)*time.Millisecond))
		clocks[i].MaxSkew = 0 // unbounded here; skew has its own test
	}
	type msg struct {
		to int
		ts hlc.Timestamp
	}
	var inflight []msg
	for step := 0; step < 20000; step++ {
		i := r.IntN(nodes)
		walls[i].t = walls[i].t.Add(time.Duration(r.IntN(3)) * time.Millisecond)
		var ts hlc.Timestamp
		if len(inflight) > 0 && r.IntN(2) == 0 {
			k := r.IntN(len(inflight))
			m := inflight[k]
			inflight = append(inflight[:k], inflight[k+1:]...)
			i = m.to
			var err error
			if ts, err = clocks[i].Update(m.ts); err != nil {
				t.Fatal(err)
			}
			if !m.ts.Less(ts) {
				t.Fatalf("receive %v not after send %v", ts, m.ts)
			}
		} else {
			ts = clocks[i].Now()
			inflight = append(inflight, msg{to: r.IntN(nodes), ts: ts})
		}
		if !last[i].IsZero() && !last[i].Less(ts) {
			t.Fatalf("node %d went back: %v then %v", i, last[i], ts)
		}
		last[i] = ts
	}
}

func TestUpdateSkewBound(t *testing.T) {
	c, w := newClock("hub", epoch)
	c.MaxSkew = 30 * time.Second
	before := c.Now()

	far := hlc.Timestamp{Wall: epoch.Add(31 * time.Second).UnixMilli(), Node: "edge"}
	_, err := c.Update(far)
	var se *hlc.SkewError
	if !errors.As(err, &se) {
		t.Fatalf("Update(31s ahead) error = %v, want *SkewError", err)
	}
	if se.Ahead != 31*time.Second || se.Max != 30*time.Second || se.Remote != far {
		t.Errorf("SkewError = %+v", se)
	}
	if domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != "hlc" {
		t.Errorf("code = %s field = %s, want invalid hlc", domain.ErrorCode(err), domain.ErrorField(err))
	}
	if got := c.Last(); got != before {
		t.Errorf("clock moved on refused update: %v, was %v", got, before)
	}

	near := hlc.Timestamp{Wall: epoch.Add(30 * time.Second).UnixMilli(), Logical: 7, Node: "edge"}
	got, err := c.Update(near)
	if err != nil {
		t.Fatalf("Update(30s ahead) = %v", err)
	}
	if want := (hlc.Timestamp{Wall: near.Wall, Logical: 8, Node: "hub"}); got != want {
		t.Errorf("Update = %v, want %v", got, want)
	}
	// Once the wall clock catches up, the far timestamp is accepted.
	w.t = w.t.Add(time.Second)
	if _, err := c.Update(far); err != nil {
		t.Errorf("Update after wall caught up: %v", err)
	}
	// Bounded drift: the clock is never further than MaxSkew (+ logical ticks) ahead of wall.
	if ahead := c.Now().Wall - w.t.UnixMilli(); ahead > c.MaxSkew.Milliseconds() {
		t.Errorf("clock %dms ahead of wall, max %s", ahead, c.MaxSkew)
	}
	if _, err := c.Update(hlc.Timestamp{Wall: 1}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("Update(invalid) = %v, want invalid", err)
	}
}

func TestObserveAfterRestart(t *testing.T) {
	c, _ := newClock("edge", epoch)
	stored := hlc.Timestamp{Wall: epoch.Add(time.Hour).UnixMilli(), Logical: 3, Node: "edge"}
	c.Observe(stored)
	if ts := c.Now(); !stored.Less(ts) {
		t.Fatalf("Now after Observe = %v, not after %v", ts, stored)
	}
	c.Observe(hlc.Timestamp{Wall: 5}) // going back is ignored
	if ts := c.Now(); ts.Wall != stored.Wall {
		t.Fatalf("Observe moved the clock back: %v", ts)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("0197f0e1a2b3-00000000-hub")
	f.Add("000000000000-ffffffff-~")
	f.Add("ffffffffffff-00000001-edge-1")
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := hlc.Parse(s)
		if err != nil {
			return
		}
		if ts.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, ts.String())
		}
		if ts.Validate() != nil {
			t.Fatalf("Parse accepted invalid %v", ts)
		}
	})
}
