package simulation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/aiff/aiff/sync/wire"
)

// fault is what the nemesis does to one request of one edge.
type fault int

const (
	faultNone fault = iota
	// faultLoseRequest: the request never reaches the hub; the edge sees a network error.
	faultLoseRequest
	// faultLoseResponse: the hub handles the request (and commits) but the answer is lost;
	// the edge sees a network error and must retry safely.
	faultLoseResponse
	// faultDuplicate: the request reaches the hub twice (a retrying proxy); the edge sees one
	// of the two answers.
	faultDuplicate
)

func (f fault) String() string {
	return [...]string{"none", "lose-request", "lose-response", "duplicate"}[f]
}

// errNetwork is what an edge sees for a lost request, a lost answer or a partition.
var errNetwork = errors.New("simulated network failure")

// transport is one edge's link to the hub: an http.RoundTripper that runs the hub's handler
// synchronously on the calling goroutine (httptest.ResponseRecorder), so no network timing
// enters the simulation, and that lets the nemesis lose, duplicate or cut requests.
type transport struct {
	hub         func() http.Handler // the current hub handler (it changes when the hub restarts)
	partitioned bool
	next        fault // applied to the next request, then reset
	// onPush is told every push answer the hub produced, including answers the edge never
	// receives, so the oracle can check them against the log.
	onPush func(*wire.PushResponse)
	// requests counts requests that reached the hub.
	requests int
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	f := t.next
	t.next = faultNone
	if t.partitioned || f == faultLoseRequest {
		return nil, errNetwork
	}
	resp := t.serve(req, body)
	if f == faultDuplicate {
		second := t.serve(req, body)
		resp.Body.Close()
		resp = second
	}
	if f == faultLoseResponse {
		resp.Body.Close()
		return nil, errNetwork
	}
	return resp, nil
}

// serve runs the hub handler on a copy of req with body.
func (t *transport) serve(req *http.Request, body []byte) *http.Response {
	t.requests++
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.RemoteAddr = "192.0.2.1:4242"
	r.RequestURI = req.URL.RequestURI()
	// A load balancer's request id: without one the hub makes a ULID from the wall clock,
	// which would draw from the seeded ID entropy at times no seed decides.
	r.Header.Set("X-Request-ID", fmt.Sprintf("sim-%d", t.requests))
	rec := httptest.NewRecorder()
	t.hub().ServeHTTP(rec, r)
	resp := rec.Result()
	if req.URL.Path == "/api/sync/push" && resp.StatusCode == http.StatusOK && t.onPush != nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if pr, err := wire.ReadAs[*wire.PushResponse](bytes.NewReader(b), wire.Limits{}); err == nil {
			t.onPush(pr)
		}
	}
	resp.Request = req
	return resp
}
