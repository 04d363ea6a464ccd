package client_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiff/aiff/sync/client"
)

// dialFailer is an HTTP transport whose first fails requests to a path fail as if the hub
// refused the connection; everything else goes through.
type dialFailer struct {
	path string

	mu    sync.Mutex
	fails int
}

func (d *dialFailer) RoundTrip(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	fail := d.fails > 0 && strings.HasSuffix(r.URL.Path, d.path)
	if fail {
		d.fails--
	}
	d.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused", Addr: r.URL.Host}}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// slowRetries makes a syncer wait 30 to 60 s after a failure, and fail its first fails
// connections to path: a test that passes in seconds shows the wait was cut short.
func slowRetries(path string, fails int) func(*client.Syncer) {
	return func(sy *client.Syncer) {
		sy.MinBackoff, sy.MaxBackoff = time.Minute, time.Minute
		sy.Client.HTTP = &http.Client{Transport: &dialFailer{path: path, fails: fails}}
	}
}

// TestPushRetriesOnceStreamReachesHub: a push that could not connect is retried as soon as
// the stream loop hears from the hub, not after its backoff.
func TestPushRetriesOnceStreamReachesHub(t *testing.T) {
	w := newWorld(t)
	a, sya := w.edgeWith(t, "edge-a", slowRetries("/api/sync/push", 1))
	checkFor(t, 5*time.Second, "ready", func() bool { return sya.Status().Ready })
	retitle(t, a, sya, w.ticket.ID, "after the outage")
	checkFor(t, 5*time.Second, "push after a failed connection", pendingIs(a, 0))
	if st := sya.Status(); st.PushErrors != 1 {
		t.Errorf("push errors = %d, want the one failed connection", st.PushErrors)
	}
}

// TestStreamRetriesOncePushReachesHub: a stream that could not connect is retried as soon as
// a push gets through, not after its backoff.
func TestStreamRetriesOncePushReachesHub(t *testing.T) {
	w := newWorld(t)
	a, sya := w.edgeWith(t, "edge-a", slowRetries("/api/sync/stream", 1))
	checkFor(t, 5*time.Second, "failed stream connection", func() bool { return sya.Status().StreamErrors == 1 })
	retitle(t, a, sya, w.ticket.ID, "pushed while the stream waits")
	checkFor(t, 5*time.Second, "stream ready after the push", func() bool { return sya.Status().Ready })
	checkFor(t, 5*time.Second, "own change back from the stream", cursorIs(a, 3))
}

// TestPushCutsOneWaitShort: when the early retry cannot connect either, the push loop waits
// out its whole backoff, however often the stream hears from the hub meanwhile.
func TestPushCutsOneWaitShort(t *testing.T) {
	w := newWorld(t)
	a, sya := w.edgeWith(t, "edge-a", slowRetries("/api/sync/push", 2))
	checkFor(t, 5*time.Second, "ready", func() bool { return sya.Status().Ready })
	retitle(t, a, sya, w.ticket.ID, "unreachable push")
	checkFor(t, 5*time.Second, "early retry", func() bool { return sya.Status().PushErrors == 2 })
	time.Sleep(600 * time.Millisecond) // the fake hub's heartbeats come every 200 ms
	if st := sya.Status(); st.PushErrors != 2 || st.Pushed != 0 {
		t.Errorf("push errors %d, pushed %d within 600 ms of a second refused connection; want 2 and 0", st.PushErrors, st.Pushed)
	}
}

// TestRefusedPushKeepsBackoff: a push the hub answered with 503 waits out its backoff even
// though the stream keeps hearing from the hub: the hub is there, and said to wait.
func TestRefusedPushKeepsBackoff(t *testing.T) {
	w := newWorld(t)
	w.hub.failPushes = 1
	a, sya := w.edgeWith(t, "edge-a", func(sy *client.Syncer) { sy.MinBackoff, sy.MaxBackoff = time.Minute, time.Minute })
	checkFor(t, 5*time.Second, "ready", func() bool { return sya.Status().Ready })
	retitle(t, a, sya, w.ticket.ID, "refused")
	checkFor(t, 5*time.Second, "refused push", func() bool { return sya.Status().PushErrors == 1 })
	time.Sleep(600 * time.Millisecond) // the fake hub's heartbeats come every 200 ms
	w.hub.mu.Lock()
	pushes := w.hub.pushes
	w.hub.mu.Unlock()
	if pushes != 1 {
		t.Errorf("%d pushes within 600 ms of a 503 with a minute's backoff, want 1", pushes)
	}
}
