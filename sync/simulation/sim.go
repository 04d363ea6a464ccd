package simulation

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/wire"
)

// Config is one simulation run. Seed decides everything else.
type Config struct {
	Seed  uint64
	Steps int // workload and nemesis steps before healing (default 300)
	Edges int // edge nodes (default 3, at least 2)
	// Dir holds every database file of the run; it must exist and be empty.
	Dir string
	// Trace, if set, receives one line per step (what the simulation did).
	Trace func(line string)
}

// Report summarizes a run.
type Report struct {
	Seed      uint64
	Steps     int
	Ops       map[string]int // how often each workload and nemesis operation ran
	HubHead   int64          // log head after healing
	Acked     int            // local writes acknowledged on edges
	Dead      int            // of them, dead-lettered by the hub
	Conflicts int            // conflict records on the hub
	Refused   int            // of them, pushed changes the hub refused (kind refused)
	Requests  int            // HTTP requests that reached the hub
	Results   map[string]int // push results the hub answered, by status (delivered or lost)
}

func (r Report) String() string {
	ops := make([]string, 0, len(r.Ops))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Ops {
			if !yield(k) {
				return
			}
		}
	}) {
		ops = append(ops, fmt.Sprintf("%s=%d", k, r.Ops[k]))
	}
	return fmt.Sprintf("seed %d: %d steps, hub head %d, %d acked edge writes (%d dead-lettered), %d conflict records (%d refused pushes), %d requests, push results %v; ops %s",
		r.Seed, r.Steps, r.HubHead, r.Acked, r.Dead, r.Conflicts, r.Refused, r.Requests, r.Results, strings.Join(ops, " "))
}

// Violation is a broken invariant: the simulation found a bug (as opposed to failing to run).
type Violation struct {
	Invariant string
	Detail    string
}

func (v *Violation) Error() string { return "invariant " + v.Invariant + ": " + v.Detail }

func violation(inv, format string, args ...any) error {
	return &Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)}
}

// zones of every run; edges hold overlapping subsets of them.
var zoneNames = []string{"north", "centre", "south"}

// world is the state of one run.
type world struct {
	cfg  Config
	rng  *rand.Rand
	now  time.Time // simulated wall time; the hub's clock, and each edge's plus its skew
	step int
	rep  Report

	hub   *hubNode
	edges []*edgeNode

	tickets []ticketRef         // every ticket created, in creation order (deterministic picks)
	teams   map[string][]string // zone → team ids
	pairs   []concurrentPair    // concurrent edits of one field on two edges
	// resultSeq is the seq the hub answered for each change id (any push result, delivered
	// or lost); a later answer must agree.
	resultSeq map[string]int64
	errs      []error
	trace     []string
	// restoreIDs gives domain.NewID its own entropy back (close).
	restoreIDs func()
}

// buildHandler (re)builds the hub's HTTP handler over the current hub store: the real
// hubhttp.Server (authentication, middleware) with the real sync/server handler mounted at
// /api/sync, edge tokens authenticated by the store.
func (w *world) buildHandler() error {
	if w.hub.sync != nil {
		w.hub.sync.Close()
	}
	sh := server.New(w.hub.store)
	sh.Now = func() time.Time { return w.now }
	hs := hubhttp.NewServer()
	hs.Store = w.hub.store
	hs.Now = func() time.Time { return w.now }
	hs.RateLimiter = nil
	hs.TokenAuthenticators = map[string]hubhttp.Authenticator{syncstore.EdgeTokenPrefix: edgeAuth{w.hub.store}}
	hs.Mount("/api/sync", sh)
	w.hub.sync, w.hub.handler = sh, hs.Handler()
	return nil
}

// edgeAuth authenticates edge tokens with the hub store.
type edgeAuth struct{ s HubStore }

func (a edgeAuth) Authenticate(ctx context.Context, token string) (domain.Principal, error) {
	return a.s.AuthenticateEdge(ctx, token)
}

type ticketRef struct {
	id   string
	zone string
}

// concurrentPair is one field of one ticket written on two edges that had not seen each
// other's write.
type concurrentPair struct {
	ticket, field string
	a, b          string // change ids
}

var dispatcher = domain.Principal{UserID: "sim-dispatcher", Username: "dispatcher", Role: domain.RoleDispatcher}

// Run runs one simulation: setup, cfg.Steps random steps of workload and nemesis (with
// invariant checks along the way), healing until every edge is quiescent, and the final
// oracle. It returns a *Violation if an invariant broke, another error if the run itself
// failed, with the last trace lines attached. Runs must not overlap: for the run's length,
// domain.NewID draws from the seed process-wide.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	w := newWorld(cfg)
	defer func() {
		w.close()
		if err != nil {
			err = fmt.Errorf("seed %d, step %d: %w\nlast steps:\n%s", w.cfg.Seed, w.step, err, strings.Join(w.trace, "\n"))
		}
		rep = w.rep
	}()
	if err := w.setup(ctx); err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	if err := w.steps(ctx); err != nil {
		return rep, err
	}
	if err := w.heal(ctx); err != nil {
		return rep, err
	}
	return rep, w.oracle(ctx)
}

func newWorld(cfg Config) *world {
	if cfg.Steps <= 0 {
		cfg.Steps = 300
	}
	if cfg.Edges < 2 {
		cfg.Edges = 3
	}
	w := &world{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		now:       time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		teams:     map[string][]string{},
		resultSeq: map[string]int64{},
	}
	w.rep = Report{Seed: cfg.Seed, Steps: cfg.Steps, Ops: map[string]int{}, Results: map[string]int{}}
	// IDs are ULIDs whose random part breaks ties between equal clocks (merge.Version) and
	// orders outboxes; drawn from the seed, they make a run repeat exactly.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], cfg.Seed)
	copy(key[8:], "aiff simulation ids")
	w.restoreIDs = domain.SetIDEntropy(rand.NewChaCha8(key))
	return w
}

// steps runs the random steps, checking the log and pulls every 25 steps.
func (w *world) steps(ctx context.Context) error {
	cfg := w.cfg

	for w.step = 1; w.step <= cfg.Steps; w.step++ {
		w.now = w.now.Add(time.Duration(w.rng.IntN(1500)) * time.Millisecond)
		for _, e := range w.edges {
			if e.partitionLeft > 0 {
				if e.partitionLeft--; e.partitionLeft == 0 {
					e.tr.partitioned = false
					w.logf("%s: partition heals", e.name)
				}
			}
		}
		if err := w.randomStep(ctx); err != nil {
			return err
		}
		if len(w.errs) > 0 {
			return w.errs[0]
		}
		if w.step%25 == 0 {
			if err := w.checkDuringRun(ctx); err != nil {
				return err
			}
		}
	}
	w.step = cfg.Steps + 1
	return nil
}

func (w *world) logf(format string, args ...any) {
	line := fmt.Sprintf("%4d %s ", w.step, w.now.Format("15:04:05.000")) + fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if len(w.trace) > 60 {
		w.trace = w.trace[1:]
	}
	if w.cfg.Trace != nil {
		w.cfg.Trace(line)
	}
}

func (w *world) close() {
	for _, e := range w.edges {
		if e.store != nil {
			e.store.Close()
		}
	}
	if w.hub != nil && w.hub.sync != nil {
		w.hub.sync.Close()
	}
	if w.hub != nil && w.hub.store != nil {
		w.hub.store.Close()
	}
	if w.restoreIDs != nil {
		w.restoreIDs()
		w.restoreIDs = nil
	}
}

func (w *world) hubCtx(ctx context.Context) context.Context {
	return domain.WithPrincipal(ctx, dispatcher)
}

// setup opens the hub with zones, teams and a few tickets, and the edges, each pulled up to
// date once.
func (w *world) setup(ctx context.Context) error {
	w.hub = &hubNode{dir: w.cfg.Dir, path: filepath.Join(w.cfg.Dir, "hub-0", "hub.db"), now: func() time.Time { return w.now }}
	if err := os.MkdirAll(filepath.Dir(w.hub.path), 0o755); err != nil {
		return err
	}
	if err := w.hub.open(ctx); err != nil {
		return err
	}
	hctx := w.hubCtx(ctx)
	for _, z := range zoneNames {
		if _, err := w.hub.store.CreateZone(hctx, domain.Zone{Name: z, Region: "sim"}); err != nil {
			return fmt.Errorf("create zone: %w", err)
		}
		for i := range 2 {
			tm, err := domain.NewTeam(domain.TeamInput{Name: domain.Some(fmt.Sprintf("%s crew %d", z, i+1)), Zone: domain.Some(z)}, w.now)
			if err != nil {
				return err
			}
			if tm, err = w.hub.store.CreateTeam(hctx, tm); err != nil {
				return fmt.Errorf("create team: %w", err)
			}
			w.teams[z] = append(w.teams[z], tm.ID)
		}
		for range 3 {
			if err := w.hubCreate(ctx, z); err != nil {
				return err
			}
		}
	}
	if err := w.buildHandler(); err != nil {
		return err
	}
	for i := range w.cfg.Edges {
		name := fmt.Sprintf("edge-%c", 'a'+i)
		zones := []string{zoneNames[i%len(zoneNames)]}
		if i%2 == 0 {
			zones = append(zones, zoneNames[(i+1)%len(zoneNames)])
		}
		_, token, err := w.hub.store.CreateEdgeCredential(hctx, syncstore.EdgeCredential{Name: name, Zones: zones})
		if err != nil {
			return fmt.Errorf("mint edge token: %w", err)
		}
		e := &edgeNode{name: name, zones: zones, token: token, dir: filepath.Join(w.cfg.Dir, name), seen: map[string]bool{}}
		e.path = filepath.Join(e.dir, "gen-0", "edge.db")
		e.now = func() time.Time { return w.now.Add(e.skew) }
		e.tr = &transport{hub: func() http.Handler { return w.hub.handler }, onPush: w.notePushResult}
		e.client = client.New("http://hub.sim", e.token)
		e.client.HTTP = &http.Client{Transport: e.tr}
		if err := e.open(ctx); err != nil {
			return err
		}
		w.edges = append(w.edges, e)
	}
	for _, e := range w.edges {
		for {
			page, err := e.pullOnce(ctx, nil)
			if err != nil {
				return fmt.Errorf("initial pull of %s: %w", e.name, err)
			}
			if !page.HasMore {
				break
			}
		}
	}
	return nil
}

// notePushResult checks a push answer against earlier ones: a change id keeps its seq.
func (w *world) notePushResult(res *wire.PushResponse) {
	for _, r := range res.Results {
		w.rep.Results[string(r.Status)]++
		if r.Seq == 0 {
			continue
		}
		if prev, ok := w.resultSeq[r.ID]; ok && prev != r.Seq {
			w.errs = append(w.errs, violation("idempotent-push", "change %s answered seq %d, earlier %d", r.ID, r.Seq, prev))
		}
		w.resultSeq[r.ID] = r.Seq
	}
}

// op is one kind of step, chosen with probability weight/total.
type op struct {
	name   string
	weight int
	run    func(w *world, ctx context.Context) error
}

var ops = []op{
	{"edge-create", 6, (*world).edgeCreate},
	{"edge-transition", 10, (*world).edgeTransition},
	{"edge-edit", 8, (*world).edgeEdit},
	{"edge-assign", 3, (*world).edgeAssign},
	{"edge-delete", 1, (*world).edgeDelete},
	{"edge-concurrent-edit", 4, (*world).edgeConcurrentEdit},
	{"hub-edit", 4, (*world).hubEdit},
	{"hub-assign", 2, (*world).hubAssign},
	{"hub-transition", 2, (*world).hubTransition},
	{"hub-create", 1, (*world).hubCreateStep},
	{"push", 18, (*world).pushStep},
	{"pull", 18, (*world).pullStep},
	{"fault-next-request", 8, (*world).faultStep},
	{"replay-old-page", 2, (*world).replayStep},
	{"partition", 2, (*world).partitionStep},
	{"crash-edge", 2, (*world).crashEdgeStep},
	{"crash-edge-after-hub-commit", 1, (*world).crashAfterCommitStep},
	{"crash-hub", 1, (*world).crashHubStep},
	{"clock-skew", 3, (*world).skewStep},
}

func (w *world) randomStep(ctx context.Context) error {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := w.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			w.rep.Ops[o.name]++
			return o.run(w, ctx)
		}
		n -= o.weight
	}
	panic("unreachable")
}

func (w *world) pickEdge() *edgeNode { return w.edges[w.rng.IntN(len(w.edges))] }

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// networkErr reports whether err is a simulated network failure (expected; the edge retries).
func networkErr(err error) bool { return errors.Is(err, errNetwork) }

// checkSyncErr turns an unexpected sync error into a run failure: the hub answering 5xx, or
// the edge failing to store what it received, is a bug.
func (w *world) checkSyncErr(e *edgeNode, what string, err error) error {
	if err == nil || networkErr(err) {
		return nil
	}
	return violation("sync-error", "%s %s: %v", e.name, what, err)
}

func (w *world) pushStep(ctx context.Context) error {
	e := w.pickEdge()
	n, err := e.pushOnce(ctx)
	w.logf("%s: push -> settled %d, err %v", e.name, n, err)
	return w.checkSyncErr(e, "push", err)
}

func (w *world) pullStep(ctx context.Context) error {
	e := w.pickEdge()
	var mangle func([]domain.Change) []domain.Change
	how := ""
	if w.rng.IntN(3) == 0 {
		how = " (reordered, repeated)"
		mangle = w.mangle(e)
	}
	page, err := e.pullOnce(ctx, mangle)
	if page != nil {
		w.logf("%s: pull%s -> %d changes, next %d, more %v", e.name, how, len(page.Changes), page.NextCursor, page.HasMore)
	} else {
		w.logf("%s: pull -> err %v", e.name, err)
	}
	return w.checkSyncErr(e, "pull", err)
}

// mangle returns a page rewriter that shuffles the page, repeats some of its changes and
// mixes in changes from an older page: merge must make the order and repetition irrelevant.
func (w *world) mangle(e *edgeNode) func([]domain.Change) []domain.Change {
	return func(cs []domain.Change) []domain.Change {
		out := slices.Clone(cs)
		for _, c := range cs {
			if w.rng.IntN(3) == 0 {
				out = append(out, c)
			}
		}
		if len(e.pages) > 0 {
			old := pick(w.rng, e.pages)
			for _, c := range old.changes {
				if w.rng.IntN(2) == 0 {
					out = append(out, c)
				}
			}
		}
		w.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
}

func (w *world) replayStep(ctx context.Context) error {
	e := w.pickEdge()
	if len(e.pages) == 0 {
		return nil
	}
	p := pick(w.rng, e.pages)
	err := e.store.ApplyRemote(ctx, p.changes, p.cursor)
	w.logf("%s: replay an old page of %d changes at cursor %d -> %v", e.name, len(p.changes), p.cursor, err)
	if err != nil {
		return violation("apply-idempotent", "%s re-applying an old page: %v", e.name, err)
	}
	return nil
}

func (w *world) faultStep(ctx context.Context) error {
	e := w.pickEdge()
	e.tr.next = fault(1 + w.rng.IntN(3))
	w.logf("%s: next request will %s", e.name, e.tr.next)
	return nil
}

func (w *world) partitionStep(ctx context.Context) error {
	e := w.pickEdge()
	e.partitionLeft = 5 + w.rng.IntN(80)
	e.tr.partitioned = true
	w.logf("%s: partitioned for %d steps", e.name, e.partitionLeft)
	return nil
}

func (w *world) crashEdgeStep(ctx context.Context) error {
	e := w.pickEdge()
	w.logf("%s: crash and restart", e.name)
	return e.crash(ctx)
}

// crashAfterCommitStep: the hub commits a push, the answer is lost, and the edge dies before
// it could have recorded anything.
func (w *world) crashAfterCommitStep(ctx context.Context) error {
	e := w.pickEdge()
	if e.tr.partitioned {
		return nil
	}
	e.tr.next = faultLoseResponse
	n, err := e.pushOnce(ctx)
	w.logf("%s: push (answer lost) -> %d, %v; crash and restart", e.name, n, err)
	if err := w.checkSyncErr(e, "push", err); err != nil {
		return err
	}
	e.tr.next = faultNone
	return e.crash(ctx)
}

func (w *world) crashHubStep(ctx context.Context) error {
	w.logf("hub: crash and restart")
	if err := w.hub.crash(ctx); err != nil {
		return err
	}
	return w.buildHandler()
}

// skews an edge's clock may take: small and huge, ahead and behind.
var skews = []time.Duration{0, 0, 40 * time.Millisecond, -40 * time.Millisecond, 3 * time.Second, -3 * time.Second,
	45 * time.Second, -45 * time.Second, 10 * time.Minute, -10 * time.Minute, 5 * time.Hour, -5 * time.Hour,
	400 * 24 * time.Hour, -400 * 24 * time.Hour}

func (w *world) skewStep(ctx context.Context) error {
	e := w.pickEdge()
	e.skew = pick(w.rng, skews)
	w.logf("%s: clock skew now %s", e.name, e.skew)
	return nil
}
