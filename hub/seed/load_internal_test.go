package seed

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressTerminal checks the terminal bar: redrawn in place with \r, at most every 100 ms,
// always at 100 %, and ended with a newline before the summary.
func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{w: &buf, tty: true, start: clock, now: func() time.Time { return clock }}
	for done := 0; done <= 1000; done += 10 {
		clock = clock.Add(10 * time.Millisecond)
		p.update(done, 1000)
	}
	p.finish(1000)
	out := buf.String()
	draws := strings.Count(out, "\r")
	if draws < 9 || draws > 12 {
		t.Errorf("%d redraws over 1 s of updates, want about 10:\n%q", draws, out)
	}
	last, _, _ := strings.Cut(out[strings.LastIndex(out, "\r"):], "\n")
	if !strings.Contains(last, "[##############################] 100%  1,000/1,000") || !strings.Contains(last, "ETA 0s") {
		t.Errorf("last frame %q, want a full bar", last)
	}
	if !strings.Contains(out, "ETA 0s  \n  all tickets written; building indexes and team statistics…\nseeded 1,000 tickets in 1.01s (990 rows/s)\n") {
		t.Errorf("summary missing or not on its own line:\n%q", out)
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
