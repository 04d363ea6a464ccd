package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Package-level sync metrics on the default registry (hub/http serves it on /metrics).
var (
	pushChanges = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "aiff_sync_push_changes_total", Help: "Pushed changes by result (accepted, duplicate, clamped, rejected).",
	}, []string{"result"})
	pushBatches = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "aiff_sync_push_batches_total", Help: "Push requests that reached the store, by outcome (ok, forbidden).",
	}, []string{"outcome"})
	pushDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "aiff_sync_push_duration_seconds", Help: "Time to decode, merge and commit one push batch.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	pulledChanges = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_pulled_changes_total", Help: "Changes sent in pull responses.",
	})
	streamedChanges = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_streamed_changes_total", Help: "Changes sent on streams (catch-up and live).",
	})
	streamFrames = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "aiff_sync_stream_frames_total", Help: "Live changes frames sent on streams, by source: built by the stream, or shared (built by another stream of the same scope).",
	}, []string{"source"})
	wsConnections = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "aiff_ws_connections", Help: "Open sync WebSocket streams.",
	})
	streamLag = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "aiff_sync_stream_lag", Help: "Changes between the hub's log head and a stream client's acknowledged cursor, at each ack.",
		Buckets: []float64{0, 1, 10, 100, 1000, 10000, 100000},
	})
	slowSubscribers = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_slow_subscribers_total", Help: "Streams dropped because their buffer filled.",
	})
)
