package seed

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Load bulk-loads ds into sink and reports progress on w (nil for silence). On a terminal it
// redraws a one-line progress bar with rows/s and the time left; on anything else (a log file, a
// pipe, a test buffer) it prints a line at every tenth of the tickets, so logs stay readable. It
// ends with a summary line.
func Load(ctx context.Context, sink Sink, ds *Dataset, w io.Writer) error {
	if w == nil {
		w = io.Discard
	}
	c := ds.Config
	fmt.Fprintf(w, "seeding %d zones, %d teams, %d users and %s tickets over %d days (seed %d)\n",
		len(ds.Zones), len(ds.Teams), len(ds.Users), groupDigits(c.Tickets), c.Days, c.Seed)
	p := &progress{w: w, tty: isTerminal(w), start: time.Now(), now: time.Now}
	if err := sink.BulkLoad(ctx, ds, p.update); err != nil {
		p.abort()
		return fmt.Errorf("bulk load: %w", err)
	}
	p.finish(c.Tickets)
	return nil
}

// progress draws the load's progress. It is called from the loading goroutine only.
type progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time // last redraw (terminal)
	step  int       // last tenth printed (lines)
	drawn bool      // a bar is on screen without its newline
	tail  bool      // every ticket is written; the store is finishing (indexes, statistics)
}

func (p *progress) update(done, total int) {
	if total <= 0 {
		return
	}
	now := p.now()
	defer func() {
		if done >= total && !p.tail {
			p.tail = true
			if p.drawn {
				fmt.Fprintln(p.w)
				p.drawn = false
			}
			fmt.Fprintln(p.w, "  all tickets written; building indexes and team statistics…")
		}
	}()
	if p.tty {
		if done < total && now.Sub(p.last) < 100*time.Millisecond {
			return
		}
		p.last = now
		const width = 30
		fill := width * done / total
		fmt.Fprintf(p.w, "\r[%s%s] %3d%%  %s/%s  %s  ", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
			100*done/total, groupDigits(done), groupDigits(total), p.rate(now, done, total))
		p.drawn = true
		return
	}
	step := 10 * done / total
	if step <= p.step {
		return
	}
	p.step = step
	fmt.Fprintf(p.w, "  %3d%%  %s/%s tickets  %s\n", 10*step, groupDigits(done), groupDigits(total), p.rate(now, done, total))
}

// rate formats throughput and the estimated time left.
func (p *progress) rate(now time.Time, done, total int) string {
	el := now.Sub(p.start).Seconds()
	if el <= 0 || done == 0 {
		return "— rows/s"
	}
	r := float64(done) / el
	eta := time.Duration(float64(total-done) / r * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%s rows/s  ETA %s", groupDigits(int(r)), eta)
}

func (p *progress) finish(total int) {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
	el := p.now().Sub(p.start)
	r := 0
	if s := el.Seconds(); s > 0 {
		r = int(float64(total) / s)
	}
	fmt.Fprintf(p.w, "seeded %s tickets in %s (%s rows/s)\n", groupDigits(total), el.Round(time.Millisecond), groupDigits(r))
}

func (p *progress) abort() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a character device (a terminal), without depending on
// golang.org/x/term.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// groupDigits formats n with thousands separators: 1000000 → "1,000,000".
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
