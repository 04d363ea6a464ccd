package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// BenchmarkStreamFanout measures the live fan-out to many streams of one zone (edges and
// dashboards watching the same region): each iteration pushes 500 new tickets (1,000 log
// changes with the hub's numbering) and times, from the push's answer, how long until every
// stream has received all of it (fanout_ms). In the same run, the same messages are
// broadcast over raw WebSockets: written as they are to as many connections, read and
// decoded the same way (raw_ms; ratio = raw_ms / fanout_ms).
//
//	go test ./sync/server -run '^$' -bench StreamFanout -benchtime 5x
func BenchmarkStreamFanout(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	hb := newHub(b, nil)
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c, _, err := hb.dial(hb.north, 0, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.untilReady()
		conns[i] = c.conn
	}
	raw := newRawBroadcast(b, n)
	var fanout, rawTime, pushTime time.Duration
	for b.Loop() {
		b.StopTimer()
		head, _ := hb.store.LastSeq(hb.ctx)
		var batch []domain.Change
		for i := range 500 {
			batch = append(batch, hb.ticket("north", fmt.Sprintf("fan-out %d", i)))
		}
		target := head + 2*int64(len(batch))
		b.StartTimer()
		var got [][]message // what each stream received
		done := readAll(b, conns, target, &got)
		start := time.Now()
		hb.push(hb.north, batch...)
		pushed := time.Now()
		<-done
		fanout += time.Since(pushed)
		pushTime += pushed.Sub(start)

		// The same messages over raw WebSockets, written by one goroutine per connection as
		// the hub's streams write them.
		var rgot [][]message
		done = readAll(b, raw.clients, target, &rgot)
		start = time.Now()
		raw.send(got[0])
		<-done
		rawTime += time.Since(start)
	}
	iters := float64(b.N)
	b.ReportMetric(float64(fanout.Milliseconds())/iters, "fanout_ms")
	b.ReportMetric(float64(rawTime.Milliseconds())/iters, "raw_ms")
	b.ReportMetric(rawTime.Seconds()/fanout.Seconds(), "ratio")
	b.ReportMetric(float64(pushTime.Milliseconds())/iters, "push_ms")
}

type message struct {
	typ websocket.MessageType
	b   []byte
}

// readAll reads, on every connection at once, messages until a changes frame reaches
// target, decoding each as a stream client does; got holds each connection's messages.
func readAll(tb testing.TB, conns []*websocket.Conn, target int64, got *[][]message) <-chan struct{} {
	*got = make([][]message, len(conns))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for {
				typ, b, err := c.Read(ctx)
				if err != nil {
					tb.Errorf("stream %d: %v", i, err)
					return
				}
				(*got)[i] = append((*got)[i], message{typ, b})
				f, err := wire.ReadFrame(bytes.NewReader(b), wire.Limits{})
				if err != nil {
					tb.Errorf("stream %d: %v", i, err)
					return
				}
				if f, ok := f.(*wire.FrameChanges); ok && f.Cursor >= target {
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// rawBroadcast is the baseline: a WebSocket server that writes given messages to every
// connection, nothing else.
type rawBroadcast struct {
	clients []*websocket.Conn
	servers chan *websocket.Conn
	srv     []*websocket.Conn
}

func newRawBroadcast(tb testing.TB, n int) *rawBroadcast {
	r := &rawBroadcast{servers: make(chan *websocket.Conn, n)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			return
		}
		r.servers <- c
		<-req.Context().Done()
	}))
	tb.Cleanup(ts.Close)
	for range n {
		c, _, err := websocket.Dial(context.Background(), strings.Replace(ts.URL, "http", "ws", 1),
			&websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			tb.Fatal(err)
		}
		c.SetReadLimit(64 << 20)
		tb.Cleanup(func() { c.CloseNow() })
		r.clients = append(r.clients, c)
		r.srv = append(r.srv, <-r.servers)
	}
	return r
}

func (r *rawBroadcast) send(msgs []message) {
	var wg sync.WaitGroup
	for _, c := range r.srv {
		wg.Go(func() {
			for _, m := range msgs {
				if err := c.Write(context.Background(), m.typ, m.b); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}
