package server_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// TestStreamEndsForDeactivatedUser: a field user's open stream ends for good (unauthorized,
// no retry, 1008) within a heartbeat tick of their deactivation, although it is kept busy
// with changes of their zone the whole time; a new stream is refused.
func TestStreamEndsForDeactivatedUser(t *testing.T) {
	hb := newHub(t, nil)
	tm, err := domain.NewTeam(domain.TeamInput{Name: domain.Some("Alpha"), Zone: domain.Some("north")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tm, err = hb.store.CreateTeam(hb.ctx, tm); err != nil {
		t.Fatal(err)
	}
	u, err := hb.store.CreateUser(hb.ctx, domain.User{Username: "tech", Role: domain.RoleField, TeamID: &tm.ID, IsActive: true, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := hb.issuer.Issue(u)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := hb.dial(tok, 0, false, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.untilReady()
	if _, err := hb.store.UpdateUser(hb.ctx, u.ID, func(u domain.User) (domain.User, error) {
		u.IsActive = false
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // busy: a team change every 20 ms, so the stream is never idle
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			hb.store.UpdateTeam(hb.ctx, tm.ID, func(t domain.Team) (domain.Team, error) { t.Capacity = 1 + i%5; return t, nil })
		}
	}()
	for {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the deactivated user's stream still runs after 10 s")
		}
		f, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatalf("stream of the deactivated user: %v", err)
		}
		if ef, ok := f.(*wire.FrameError); ok {
			if ef.Code != domain.CodeUnauthorized || ef.Retry {
				t.Fatalf("error frame %+v, want unauthorized without retry", ef)
			}
			break
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stream ended %s after the deactivation; heartbeat ticks are 100 ms", d)
	}
	if _, err := c.next(2 * time.Second); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("close = %v, want 1008", err)
	}
	// A new stream is refused by the hub's authentication once its user cache entry expires
	// (seconds); until then it is accepted and ends at the first heartbeat tick.
	c2, resp, err := hb.dial(tok, 0, false, nil)
	if err != nil {
		if resp == nil || resp.StatusCode != 401 {
			t.Fatalf("new stream of the deactivated user: %v %v", resp, err)
		}
		return
	}
	for {
		if time.Since(start) > 15*time.Second {
			t.Fatal("the deactivated user's new stream still runs")
		}
		f, err := c2.next(2 * time.Second)
		if err != nil {
			t.Fatalf("new stream of the deactivated user: %v", err)
		}
		if ef, ok := f.(*wire.FrameError); ok {
			if ef.Code != domain.CodeUnauthorized || ef.Retry {
				t.Fatalf("new stream's error frame %+v", ef)
			}
			return
		}
	}
}
