// Package simulation is a deterministic, seeded simulation of one hub and several edge nodes
// under a nemesis, checking the sync invariants of ARCHITECTURE.md (1–5) end to end on the
// real stores: the hub on hub/sqlite, each edge on edge/sqlite in its own directory, the edge
// side driven through sync/client.
//
// One seed drives every choice. Everything runs on one goroutine in steps: a step is a user
// write on an edge, a dispatcher write on the hub, one push or one pulled page of one edge,
// or a nemesis action — lose the next request or its answer, duplicate it, partition an edge
// for many steps, reorder and repeat pulled changes, replay an old page, crash an edge or the
// hub (restart from a copy of its files taken at that instant: a kill -9 image), or skew an
// edge's clock (milliseconds to a year, ahead and behind). The hub is its real HTTP handler
// (hub/http.Server with sync/server mounted at /api/sync; each edge authenticates with an edge
// token minted by the hub store), called through an http.RoundTripper that runs it
// synchronously, so no network timing enters. Change ids (domain.SetIDEntropy) and request ids
// come from the seed too, so a failing seed replays exactly, trace line for trace line. Pull is
// used rather than the WebSocket stream for the same reason: the stream needs goroutines and
// a real connection.
//
// After the steps every partition heals and the edges sync until nothing changes; then the
// oracle checks that every edge's digest of each of its zones equals the hub's, that every
// write acknowledged on an edge is in the hub log exactly once or dead-lettered with a
// reason, that the log is gap-free with unique change ids, that deleted rows stay deleted,
// that the hub's typed rows equal the replay of its log, and that its conflict records are
// exactly the conflicts merge finds in the log. During the run, pulling from a random cursor
// must return every later change in scope exactly once, in order.
//
// Run it with `go test ./sync/simulation -sim.seeds=200 -sim.steps=1000`; a failure prints
// its seed, which `-sim.seed=N` replays with a step trace (`-v`).
package simulation
