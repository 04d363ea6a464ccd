package edge_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/hub/auth"
)

// buildEdge builds the edge test binary once per test.
func buildEdge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgemain")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/edgemain").CombinedOutput()
	if err != nil {
		t.Fatalf("build edge: %v\n%s", err, out)
	}
	return bin
}

// startEdge runs the binary and returns its URL and command.
func startEdge(t *testing.T, bin string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("edge did not print its url: %v", err)
	}
	return line[:len(line)-1], cmd
}

// TestKill9KeepsAcknowledgedWrites writes tickets through the API of a real edge process
// from several clients and kills it with SIGKILL at a random instant, three times. Every
// write that was answered 201 must be in the database afterwards, with its outbox entry, and
// the clock and ids must keep increasing across the crashes.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	bin := buildEdge(t)
	dir := t.TempDir()
	f := newFixture(t)
	{
		s := sqlite.NewStore(filepath.Join(dir, "edge.db"))
		s.Node = "north"
		if err := s.Open(bg); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyRemote(bg, f.changes, int64(len(f.changes))); err != nil {
			t.Fatal(err)
		}
		hash, _ := auth.HashPassword("secret")
		if err := s.SaveCredential(bg, f.dispatch, hash); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	var acked []string
	for round := range 3 {
		url, cmd := startEdge(t, bin, "--hub", "http://127.0.0.1:1", "--data", dir, "--node", "north")
		disp := api{t: t, base: url}.login("disp", "secret")
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var tk domain.Ticket
					code, err := tryDo(disp, "POST", "/api/tickets", map[string]any{"title": fmt.Sprintf("r%d w%d #%d", round, w, i), "zone": "North"}, &tk)
					if err != nil {
						return // the process died mid-request: not acknowledged
					}
					if code == 201 {
						mu.Lock()
						acked = append(acked, tk.ID)
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+rand.IntN(300)) * time.Millisecond) // the crash instant, not synchronization
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	s := sqlite.NewStore(filepath.Join(dir, "edge.db"))
	if err := s.Open(bg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.Pending(bg, 100000)
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]bool{}
	var prevID, prevHLC string
	for _, c := range pending {
		queued[c.EntityID] = true
		if c.ID <= prevID || c.HLC <= prevHLC {
			t.Errorf("outbox order broken at %s (%s after %s, %s)", c.ID, c.HLC, prevID, prevHLC)
		}
		prevID, prevHLC = c.ID, c.HLC
	}
	lost := 0
	for _, id := range acked {
		if _, err := s.GetTicket(bg, id); err != nil || !queued[id] {
			lost++
		}
	}
	if lost > 0 || len(acked) == 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(acked))
	}
	if slices.ContainsFunc(pending, func(c domain.Change) bool { return c.Origin != "north" }) {
		t.Error("outbox holds a change of another origin")
	}
	t.Logf("%d acknowledged writes over 3 kill -9s, all durable; %d in the outbox", len(acked), len(pending))
}

func tryDo(a api, method, path string, body, out any) (code int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	ft := &fatalT{TB: a.t}
	a.t = ft
	code = a.do(method, path, body, out)
	if ft.failed {
		return 0, fmt.Errorf("request failed")
	}
	return code, nil
}

// fatalT turns Fatalf into a panic, so a request that dies with the process is reported to
// the caller instead of failing the test from a goroutine.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = true
	panic(fmt.Sprintf(format, args...))
}

func (f *fatalT) Helper() {}
