package client

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// TestConnectFailed checks what the syncer takes for the hub not being there: a refused
// connection, for a push and for a stream, and not an answer from the hub.
func TestConnectFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	batch := []domain.Change{{ID: domain.NewID(now), Origin: "edge-a", Actor: "system", Entity: domain.EntityTicket,
		EntityID: domain.NewID(now), Op: domain.OpUpsert, Zone: "North", Patch: map[string]json.RawMessage{"title": []byte(`"x"`)},
		HLC: hlc.NewClock("edge-a").Now().String(), At: now}}
	c := New(gone, "token")
	ctx := context.Background()
	if _, err := c.Push(ctx, "edge-a", batch); !connectFailed(err) {
		t.Errorf("push to a closed port: connectFailed(%v) = false", err)
	}
	if err := c.Stream(ctx, 0, time.Second, nil); !connectFailed(err) {
		t.Errorf("stream from a closed port: connectFailed(%v) = false", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c = New(srv.URL, "token")
	if _, err := c.Push(ctx, "edge-a", batch); err == nil || connectFailed(err) {
		t.Errorf("push answered 503: connectFailed(%v) = true", err)
	}
	if err := c.Stream(ctx, 0, time.Second, nil); err == nil || connectFailed(err) {
		t.Errorf("stream answered 503: connectFailed(%v) = true", err)
	}
}
