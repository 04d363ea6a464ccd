// Package client speaks the sync protocol (sync/PROTOCOL.md) from the replica side: push,
// pull, the WebSocket stream and the digest, for any Go program that keeps a replica of hub
// data — edge nodes, tests, simulations, load generators.
//
// Client is the transport: one method per endpoint, typed frames in and out, and errors that
// say whether retrying can help (Retryable, RetryAfter). Syncer is the loop on top of it: it
// pushes an Outbox with backoff and jitter, never letting one bad change hold up the ones
// behind it, and keeps a Replica current by pulling and then streaming from its stored
// cursor, reconnecting forever.
package client

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// Client talks to one hub. Set the exported fields before first use; methods are safe for
// concurrent use.
type Client struct {
	// BaseURL is the hub's root URL, e.g. "http://hub:8085".
	BaseURL string
	// Token is the bearer credential: an edge token (aiffe_…) or a user access token.
	Token string
	// HTTP is the client for push, pull and digest (default: one with a 60 s timeout).
	HTTP *http.Client
	// Limits bound the frames this client accepts (zero fields: wire defaults).
	Limits wire.Limits
	// GzipPush compresses push bodies larger than 1 KiB.
	GzipPush bool
	// Logger (default: discard).
	Logger *slog.Logger
}

// New returns a client for the hub at baseURL with token, compressing pushes.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, GzipPush: true}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 60 * time.Second}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Error is a failed sync request: an HTTP problem answer from the hub, or a transport failure
// (Status 0). It unwraps to a *domain.Error with the hub's code, so domain.ErrorCode works.
type Error struct {
	Op         string        // push, pull, stream, digest
	Status     int           // HTTP status; 0 for a transport failure
	Code       domain.Code   // from the problem type
	Type       string        // the problem type URI, "" without a problem body
	Detail     string        // the problem's detail, or the transport error text
	Field      string        // the problem's field
	RetryAfter time.Duration // from Retry-After (429, 503)
	Err        error         // transport cause
}

func (e *Error) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("sync %s: %v", e.Op, e.Err)
	case e.Field != "":
		return fmt.Sprintf("sync %s: hub answered %d %s: %s (field %s)", e.Op, e.Status, e.Code, e.Detail, e.Field)
	}
	return fmt.Sprintf("sync %s: hub answered %d %s: %s", e.Op, e.Status, e.Code, e.Detail)
}

// Unwrap returns the transport cause, or the hub's answer as a *domain.Error.
func (e *Error) Unwrap() error {
	if e.Status == 0 {
		return e.Err
	}
	return &domain.Error{Code: e.Code, Message: e.Detail, Field: e.Field}
}

// Retryable reports whether sending the same request again can succeed: transport failures,
// 429, 5xx, and stream errors the hub marked retry. Everything else (4xx) is the request's
// fault: it will fail the same way again.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	var se *StreamError
	if errors.As(err, &se) {
		return se.Frame.Retry
	}
	return !errors.Is(err, context.Canceled)
}

// RetryAfter returns how long the hub asked the client to wait (0 if it did not say).
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

var codeOfSlug = map[string]domain.Code{
	"invalid": domain.CodeInvalid, "not-found": domain.CodeNotFound, "conflict": domain.CodeConflict,
	"unauthorized": domain.CodeUnauthorized, "forbidden": domain.CodeForbidden,
	"too-many-requests": domain.CodeTooManyRequests, "too-large": domain.CodeTooLarge,
	"unavailable": domain.CodeUnavailable, "internal": domain.CodeInternal,
}

func codeOfStatus(status int) domain.Code {
	switch {
	case status == http.StatusUnauthorized:
		return domain.CodeUnauthorized
	case status == http.StatusForbidden:
		return domain.CodeForbidden
	case status == http.StatusNotFound:
		return domain.CodeNotFound
	case status == http.StatusConflict:
		return domain.CodeConflict
	case status == http.StatusRequestEntityTooLarge:
		return domain.CodeTooLarge
	case status == http.StatusTooManyRequests:
		return domain.CodeTooManyRequests
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return domain.CodeUnavailable
	case status >= 500:
		return domain.CodeInternal
	}
	return domain.CodeInvalid
}

// responseError turns a non-2xx answer into an *Error, reading a problem+json body if any.
func responseError(op string, resp *http.Response) error {
	e := &Error{Op: op, Status: resp.StatusCode, Code: codeOfStatus(resp.StatusCode)}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
		Field  string `json:"field"`
	}
	if json.Unmarshal(body, &p) == nil && p.Type != "" {
		if code, ok := codeOfSlug[p.Type[strings.LastIndexByte(p.Type, '/')+1:]]; ok {
			e.Code = code
		}
		e.Detail, e.Field, e.Type = p.Detail, p.Field, p.Type
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// do sends req and returns the response for a 2xx answer; the caller closes its body.
func (c *Client) do(op string, req *http.Request) (*http.Response, error) {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &Error{Op: op, Err: err, Detail: err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, responseError(op, resp)
	}
	return resp, nil
}

// Push sends changes (in the order they were made) as one push from node and returns the
// hub's per-change results. The hub stores all of the batch or none of it, so after any error
// the same batch can be sent again: changes already stored come back as duplicates.
func (c *Client) Push(ctx context.Context, node string, changes []domain.Change) (*wire.PushResponse, error) {
	f, err := c.EncodePush(node, changes)
	if err != nil {
		return nil, err
	}
	return c.SendPush(ctx, f)
}

// PushFrame is a push request encoded for sending (EncodePush).
type PushFrame struct {
	changes []domain.Change
	body    []byte
	zipped  bool
}

// EncodePush encodes changes as one push from node, compressed if the client gzips pushes.
// A frame over the frame size limit is refused here (domain.CodeTooLarge), as the hub would
// refuse it after reading it all. Encoding is apart from sending so that a client can encode
// its next batch while a push is in flight.
func (c *Client) EncodePush(node string, changes []domain.Change) (*PushFrame, error) {
	b, err := wire.Marshal(&wire.PushRequest{Node: node, Changes: changes})
	if err != nil {
		return nil, fmt.Errorf("sync push: %w", err)
	}
	if limit := cmp.Or(c.Limits.MaxFrameBytes, wire.DefaultLimits.MaxFrameBytes); int64(len(b)) > limit {
		return nil, fmt.Errorf("sync push: %w", domain.Errorf(domain.CodeTooLarge,
			"a push of %d changes is %d bytes, more than the %d a frame may hold", len(changes), len(b), limit))
	}
	f := &PushFrame{changes: changes, body: b, zipped: c.GzipPush && len(b) > 1024}
	if f.zipped {
		if f.body, err = wire.Gzip(b); err != nil {
			return nil, fmt.Errorf("sync push: %w", err)
		}
	}
	return f, nil
}

// SendPush sends a frame from EncodePush and returns the hub's per-change results.
func (c *Client) SendPush(ctx context.Context, f *PushFrame) (*wire.PushResponse, error) {
	req, err := c.newRequest(ctx, http.MethodPost, "/api/sync/push", nil, bytes.NewReader(f.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.zipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.do("push", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res, err := wire.ReadAs[*wire.PushResponse](resp.Body, c.Limits)
	if err != nil {
		return nil, &Error{Op: "push", Err: fmt.Errorf("read push result: %w", err), Detail: err.Error()}
	}
	if len(res.Results) != len(f.changes) {
		return nil, &Error{Op: "push", Err: fmt.Errorf("hub answered %d results for %d changes", len(res.Results), len(f.changes))}
	}
	for i, r := range res.Results {
		if r.ID != f.changes[i].ID {
			return nil, &Error{Op: "push", Err: fmt.Errorf("result %d is for change %s, not %s", i, r.ID, f.changes[i].ID)}
		}
	}
	return res, nil
}

// Pull returns up to limit changes in scope after cursor (limit 0: the hub's default).
func (c *Client) Pull(ctx context.Context, cursor int64, limit int) (*wire.PullResponse, error) {
	return c.pull(ctx, cursor, limit, nil)
}

// pull is Pull with extra request headers.
func (c *Client) pull(ctx context.Context, cursor int64, limit int, hdr http.Header) (*wire.PullResponse, error) {
	q := url.Values{"cursor": {strconv.FormatInt(cursor, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/api/sync/pull", q, nil)
	if err != nil {
		return nil, err
	}
	// Set explicitly, so the transport does not decompress transparently: wire.ReadFrame
	// detects gzip itself and bounds the inflated size.
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.do("pull", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res, err := wire.ReadAs[*wire.PullResponse](resp.Body, c.Limits)
	if err != nil {
		return nil, &Error{Op: "pull", Err: fmt.Errorf("read pull response: %w", err), Detail: err.Error()}
	}
	if res.NextCursor < cursor {
		return nil, &Error{Op: "pull", Err: fmt.Errorf("hub moved the cursor back from %d to %d", cursor, res.NextCursor)}
	}
	for _, ch := range res.Changes {
		if ch.Seq <= cursor {
			return nil, &Error{Op: "pull", Err: fmt.Errorf("hub sent change seq %d at cursor %d", ch.Seq, cursor)}
		}
	}
	return res, nil
}

// Digest is the hub's (or an edge's) state digest of one zone (PROTOCOL.md §7).
type Digest struct {
	Zone   string `json:"zone"`
	Digest string `json:"digest"`
	Cursor int64  `json:"cursor"`
	Rows   int    `json:"rows"`
}

// Digest returns the digest of zone.
func (c *Client) Digest(ctx context.Context, zone string) (Digest, error) {
	var d Digest
	req, err := c.newRequest(ctx, http.MethodGet, "/api/sync/digest", url.Values{"zone": {zone}}, nil)
	if err != nil {
		return d, err
	}
	resp, err := c.do("digest", req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return d, &Error{Op: "digest", Err: err}
		}
		r = zr
	}
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&d); err != nil {
		return d, &Error{Op: "digest", Err: fmt.Errorf("decode digest: %w", err)}
	}
	return d, nil
}

// StreamError is an error frame the hub ended a stream with.
type StreamError struct{ Frame *wire.FrameError }

func (e *StreamError) Error() string {
	return fmt.Sprintf("sync stream: hub closed the stream: %s: %s", e.Frame.Code, e.Frame.Detail)
}

// Unwrap returns the frame as a *domain.Error.
func (e *StreamError) Unwrap() error { return e.Frame.Err() }

// StreamHandler receives a stream's frames in order, on Stream's goroutine (the next frames
// are read and decoded meanwhile). An error from it ends the stream with that error.
type StreamHandler interface {
	// Changes is called for each changes frame, or for several consecutive ones joined into
	// one (their changes in order, the last one's cursor) when they were waiting; the handler
	// applies them and the cursor durably (in one transaction) before returning.
	Changes(ctx context.Context, f *wire.FrameChanges) error
	// Ready is called once, when catch-up is done.
	Ready(ctx context.Context, f *wire.FrameReady) error
	// Heartbeat is called when the hub reports the client's position while idle.
	Heartbeat(ctx context.Context, f *wire.FrameHeartbeat) error
}

// DefaultIdleTimeout is how long a stream may stay silent before the client treats the
// connection as dead (three missed 15 s heartbeats).
const DefaultIdleTimeout = 45 * time.Second

// Stream opens the WebSocket stream from cursor and feeds its frames to h until ctx ends, the
// connection breaks, nothing arrives for idle (DefaultIdleTimeout if 0), or the hub sends an
// error frame (*StreamError). After each changes frame h accepted, an ack frame is sent. It
// always returns a non-nil error; the caller reconnects from its own stored cursor.
func (c *Client) Stream(ctx context.Context, cursor int64, idle time.Duration, h StreamHandler) error {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	u, err := url.Parse(c.BaseURL + "/api/sync/stream")
	if err != nil {
		return fmt.Errorf("sync stream: %w", err)
	}
	u.RawQuery = url.Values{"cursor": {strconv.FormatInt(cursor, 10)}}.Encode()
	hdr := http.Header{}
	if c.Token != "" {
		hdr.Set("Authorization", "Bearer "+c.Token)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, resp, err := websocket.Dial(dialCtx, u.String(), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: c.httpClient().Transport},
		HTTPHeader:   hdr,
		Subprotocols: []string{wire.Subprotocol},
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resp != nil && resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusSwitchingProtocols {
			if resp.Body != nil {
				defer resp.Body.Close()
			}
			return responseError("stream", resp)
		}
		return &Error{Op: "stream", Err: err, Detail: err.Error()}
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != wire.Subprotocol {
		conn.Close(websocket.StatusPolicyViolation, "subprotocol "+wire.Subprotocol+" required")
		return &Error{Op: "stream", Err: fmt.Errorf("hub did not accept subprotocol %s", wire.Subprotocol)}
	}
	lim := c.Limits
	conn.SetReadLimit(max(lim.MaxFrameBytes, wire.DefaultLimits.MaxFrameBytes) + 1)
	// Frames are read and decoded ahead on their own goroutine while the handler applies the
	// previous ones, and changes frames already waiting when the handler is free again are
	// applied together (readAhead, coalesceChanges): a replica that falls behind a burst (an
	// edge's offline work arriving) catches up in fewer, larger transactions, each row written
	// once per batch instead of once per frame.
	frames := make(chan streamRead, readAhead)
	readCtx, stopReading := context.WithCancel(ctx)
	readDone := make(chan struct{})
	defer func() {
		stopReading()
		conn.CloseNow()
		<-readDone
	}()
	go func() {
		defer close(readDone)
		defer close(frames)
		for {
			r := readStreamFrame(ctx, readCtx, conn, idle, lim)
			select {
			case frames <- r:
			case <-readCtx.Done():
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	var held *streamRead // read while coalescing, not a changes frame that could join
	for {
		var r streamRead
		if held != nil {
			r, held = *held, nil
		} else if rr, ok := <-frames; ok {
			r = rr
		} else { // the reader stopped without an error to pass on: ctx ended
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{Op: "stream", Err: errors.New("stream reader stopped")}
		}
		if r.err != nil {
			if r.bad {
				conn.Close(websocket.StatusPolicyViolation, "bad frame")
			}
			return r.err
		}
		switch f := r.f.(type) {
		case *wire.FrameChanges:
			if f.Changes[0].Seq <= cursor {
				conn.Close(websocket.StatusPolicyViolation, "repeated changes")
				return &Error{Op: "stream", Err: fmt.Errorf("hub sent seq %d at cursor %d", f.Changes[0].Seq, cursor)}
			}
			f, held = coalesceChanges(f, frames)
			if err := h.Changes(ctx, f); err != nil {
				conn.Close(websocket.StatusInternalError, "client could not apply changes")
				return err
			}
			cursor = f.Cursor
			ack, _ := wire.Marshal(&wire.FrameAck{Cursor: cursor})
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, ack)
			wcancel()
			if err != nil {
				if ctx.Err() != nil { // the reader, stopping on ctx, closed the connection
					return ctx.Err()
				}
				return &Error{Op: "stream", Err: fmt.Errorf("send ack: %w", err)}
			}
		case *wire.FrameReady:
			if err := h.Ready(ctx, f); err != nil {
				return err
			}
		case *wire.FrameHeartbeat:
			if err := h.Heartbeat(ctx, f); err != nil {
				return err
			}
			cursor = max(cursor, f.Cursor)
		case *wire.FrameError:
			conn.Close(websocket.StatusNormalClosure, "")
			return &StreamError{Frame: f}
		default:
			conn.Close(websocket.StatusPolicyViolation, "unexpected frame")
			return &Error{Op: "stream", Err: fmt.Errorf("unexpected %s frame from hub", f.FrameType())}
		}
	}
}

// readAhead is how many decoded frames the stream reader may hold before the handler takes
// them; maxCoalesce bounds the changes applied as one batch.
const (
	readAhead   = 4
	maxCoalesce = 5000
)

// streamRead is one frame read from the stream, or the error that ended reading (bad: the
// frame did not decode, and the connection is closed as a policy violation).
type streamRead struct {
	f   wire.Frame
	err error
	bad bool
}

// readStreamFrame reads and decodes the next frame, waiting at most idle for it.
func readStreamFrame(ctx, readCtx context.Context, conn *websocket.Conn, idle time.Duration, lim wire.Limits) streamRead {
	rctx, rcancel := context.WithTimeout(readCtx, idle)
	_, data, err := conn.Read(rctx)
	idleHit := rctx.Err() != nil && readCtx.Err() == nil
	rcancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return streamRead{err: ctx.Err()}
		case idleHit:
			return streamRead{err: &Error{Op: "stream", Err: fmt.Errorf("no frame for %s", idle)}}
		}
		return streamRead{err: &Error{Op: "stream", Err: err, Detail: err.Error()}}
	}
	f, err := wire.ReadFrame(bytes.NewReader(data), lim)
	if err != nil {
		return streamRead{err: &Error{Op: "stream", Err: fmt.Errorf("bad frame from hub: %w", err)}, bad: true}
	}
	return streamRead{f: f}
}

// coalesceChanges appends to f the changes frames already read and waiting in frames, in
// order, up to maxCoalesce changes; the result's cursor is the last one's. The first frame
// taken that cannot join (another frame type, an error, a frame not strictly after f) is
// returned as held, for the caller to handle next as it would have anyway. Applying the
// union at once is what applying the frames one by one gives: a replica's apply is
// idempotent and order-free, and it stores the last cursor with the changes.
func coalesceChanges(f *wire.FrameChanges, frames <-chan streamRead) (*wire.FrameChanges, *streamRead) {
	out := f
	for len(out.Changes) < maxCoalesce {
		var r streamRead
		var ok bool
		select {
		case r, ok = <-frames:
			if !ok {
				return out, nil
			}
		default:
			return out, nil
		}
		next, ok := r.f.(*wire.FrameChanges)
		if r.err != nil || !ok || next.Changes[0].Seq <= out.Cursor {
			return out, &r
		}
		if out == f {
			out = &wire.FrameChanges{Changes: slices.Clip(f.Changes), Cursor: f.Cursor}
		}
		out.Changes = append(out.Changes, next.Changes...)
		out.Cursor = next.Cursor
	}
	return out, nil
}

// Login checks a username and password with the hub (POST /api/auth/login) and returns the
// user the hub answered with. A refusal is an *Error unwrapping to CodeUnauthorized (or
// CodeTooManyRequests); an unreachable hub is an *Error with Status 0. The client's Token is
// not sent.
func Login(ctx context.Context, c *Client, username, password string) (domain.User, error) {
	var u domain.User
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/auth/login", bytes.NewReader(body))
	if err != nil {
		return u, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do("login", req)
	if err != nil {
		return u, err
	}
	defer resp.Body.Close()
	var s struct {
		User domain.User `json:"user"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return u, &Error{Op: "login", Err: fmt.Errorf("decode login answer: %w", err)}
	}
	if s.User.Username == "" {
		return u, &Error{Op: "login", Err: errors.New("hub login answer has no user")}
	}
	return s.User, nil
}
