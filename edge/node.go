// Package edge is the edge node: a regional box that keeps a replica of its zones in SQLite
// (edge/sqlite), serves the local API and the field portal (edge/http) from it whether or not
// the hub is reachable, and syncs with the hub (sync/client): it pushes its outbox and
// streams the hub's changes, reconnecting forever.
//
//	n := edge.New(edge.Config{HubURL: "http://hub:8085", Token: tok, DataDir: dir, Addr: ":8090"})
//	if err := n.Open(ctx); err != nil { … }
//	defer n.Close(ctx)
//	fmt.Println("edge at", n.URL())
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aiff/aiff/domain"
	edgehttp "github.com/aiff/aiff/edge/http"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/web"
)

// Constant log keys.
const (
	logKeyNode      = "node"
	logKeyComponent = "component"
	logKeyAddr      = "addr"
)

// DefaultAddr is the edge's listen address (AIFF_ADDR for edges).
const DefaultAddr = ":8090"

// DBFile is the name of the edge database in the data dir.
const DBFile = "edge.db"

// Config configures a Node. HubURL and DataDir are required.
type Config struct {
	HubURL  string // the hub's root URL
	Token   string // edge credential from `aiff edge-token` (aiffe_<name>_<secret>)
	DataDir string // holds edge.db and the token signing key
	Addr    string // listen address (default ":8090"; ":0" picks a free port)
	Logger  *slog.Logger
	// Node overrides the node id; by default it is the credential's name, so the hub sees the
	// same id in the token and in the changes' origin.
	Node string
	// TokenTTL is the lifetime of the access tokens the edge issues (default 8 h: a shift,
	// since an edge token cannot be refreshed while the hub is down).
	TokenTTL time.Duration
	// MinBackoff and MaxBackoff bound sync retries (default 1 s and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// IntegrityInterval is how often the ready edge proves its zones match the hub's and
	// repairs what differs (default DefaultIntegrityInterval; negative: never).
	IntegrityInterval time.Duration
	// LoginCheckInterval is how often a connected edge asks the hub whether the users it
	// holds cached logins for but does not replicate may still log in (default
	// DefaultLoginCheckInterval).
	LoginCheckInterval time.Duration
}

// Node is a running edge node.
type Node struct {
	cfg    Config
	logger *slog.Logger

	Store  *sqlite.Store
	Client *client.Client
	Syncer *client.Syncer
	// Integrity compares the edge's zones with the hub's and repairs them (integrity.go).
	Integrity *Integrity
	// Logins revokes cached logins the hub no longer allows (logins.go).
	Logins *LoginCheck

	ln      net.Listener
	srv     *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	serveMu sync.Mutex
	closed  bool
}

// New returns a node for cfg with defaults filled; call Open to start it.
func New(cfg Config) *Node {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.HubURL = strings.TrimRight(cfg.HubURL, "/")
	return &Node{cfg: cfg, logger: cfg.Logger}
}

// NodeFromToken returns the credential name inside an edge token "aiffe_<name>_<secret>"
// (the secret is 43 base64url characters), or "" if tok does not have that shape.
func NodeFromToken(tok string) string {
	rest, ok := strings.CutPrefix(tok, "aiffe_")
	const secretLen = 43
	if !ok || len(rest) < secretLen+2 || rest[len(rest)-secretLen-1] != '_' {
		return ""
	}
	for _, r := range rest[len(rest)-secretLen:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return ""
		}
	}
	return rest[:len(rest)-secretLen-1]
}

// Open opens the store, starts the sync loop and starts serving on Addr. It returns once the
// listener is bound; the hub need not be reachable.
func (n *Node) Open(ctx context.Context) (err error) {
	if n.cfg.HubURL == "" {
		return errors.New("edge: hub URL is required")
	}
	if n.cfg.DataDir == "" {
		return errors.New("edge: data dir is required")
	}
	defer func() {
		if err != nil {
			n.Close(context.WithoutCancel(ctx))
		}
	}()
	node := n.cfg.Node
	if node == "" {
		node = NodeFromToken(n.cfg.Token)
	}
	n.Store = sqlite.NewStore(filepath.Join(n.cfg.DataDir, DBFile))
	n.Store.Node = node
	n.Store.Now = n.cfg.Now
	n.Store.Logger = n.logger
	if err := n.Store.Open(ctx); err != nil {
		return fmt.Errorf("open edge store: %w", err)
	}
	n.logger = n.logger.With(logKeyNode, n.Store.Node)

	key, err := auth.LoadOrCreateKey(n.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("edge token key: %w", err)
	}
	tokens := auth.NewEdDSAIssuer(key)
	tokens.Name = "aiff-edge:" + n.Store.Node
	tokens.TTL = n.cfg.TokenTTL
	tokens.Now = n.cfg.Now

	n.Client = client.New(n.cfg.HubURL, n.cfg.Token)
	n.Client.Logger = n.logger.With(logKeyComponent, "sync")
	n.Syncer = &client.Syncer{
		Client:     n.Client,
		Node:       n.Store.Node,
		Outbox:     n.Store,
		Replica:    n.Store,
		Logger:     n.logger.With(logKeyComponent, "sync"),
		MinBackoff: n.cfg.MinBackoff,
		MaxBackoff: n.cfg.MaxBackoff,
		Scoper:     scoper{n},
	}
	rev, err := n.Store.Revoked(ctx)
	if err != nil {
		return err
	}

	n.Integrity = NewIntegrity(n.Store, n.Client)
	n.Integrity.Logger = n.logger.With(logKeyComponent, "integrity")
	n.Integrity.Interval = n.cfg.IntegrityInterval
	n.Integrity.Ready = func() bool { return n.Syncer.Status().Ready }
	n.Integrity.Busy = n.syncBusy

	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{n: n}, collectors.NewGoCollector())
	reg.MustRegister(n.Integrity.Collectors()...)
	api := &edgehttp.Server{
		Store:    n.Store,
		Tokens:   tokens,
		HubLogin: n.hubLogin,
		Web:      web.FS,
		Logger:   n.logger.With(logKeyComponent, "http"),
		Health:   n.health,
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		OnWrite:  n.Syncer.Notify,
		Now:      n.cfg.Now,
		Revoked:  n.revoked,

		EdgeToken: n.cfg.Token,
	}
	if n.ln, err = net.Listen("tcp", n.cfg.Addr); err != nil {
		return fmt.Errorf("edge listen: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.srv = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("edge http server stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if rev != nil {
			// Revoked before this start: the replica is wiped already; never sync again.
			n.logger.Error("edge credential was revoked; not syncing", "reason", rev.Reason, "at", rev.At)
			return
		}
		n.Syncer.Run(runCtx)
	}()
	if rev == nil && n.cfg.IntegrityInterval >= 0 {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.Integrity.Run(runCtx)
		}()
	}
	if rev == nil {
		n.startLoginCheck(runCtx)
	}
	n.logger.Info("edge node started", logKeyAddr, n.ln.Addr().String(), "hub", n.cfg.HubURL)
	return nil
}

// URL returns the base URL the node serves on ("" before Open).
func (n *Node) URL() string {
	if n.ln == nil {
		return ""
	}
	addr := n.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Close stops serving (waiting for requests in flight until ctx ends), stops the sync loop
// and closes the store. Every write acknowledged before is already committed; changes not
// yet pushed are pushed after the next Open.
func (n *Node) Close(ctx context.Context) error {
	n.serveMu.Lock()
	defer n.serveMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.srv != nil {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
		}
		if err := n.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown edge http: %w", err))
		}
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.Store != nil {
		errs = append(errs, n.Store.Close())
	}
	return errors.Join(errs...)
}

// Health is the /healthz body.
type Health struct {
	Status        string  `json:"status"` // ok, or degraded while the hub is unreachable
	Node          string  `json:"node"`
	Hub           string  `json:"hub"`
	HubConnected  bool    `json:"hub_connected"`
	HubReady      bool    `json:"hub_ready"`
	LastContact   string  `json:"last_contact,omitempty"`
	LastError     string  `json:"last_error,omitempty"`
	Cursor        int64   `json:"cursor"`
	HubCursor     int64   `json:"hub_cursor"`
	Lag           int64   `json:"lag"`         // hub log positions not yet applied here
	QueueDepth    int     `json:"queue_depth"` // local changes not yet accepted by the hub
	DeadLetters   int     `json:"dead_letters"`
	OldestPending float64 `json:"oldest_pending_seconds"`
	ClockWarning  string  `json:"clock_warning,omitempty"`
	// Revoked is the hub's reason after it revoked this edge's credential: sync has stopped,
	// the replica is purged and the API serves none of it (status "revoked").
	Revoked string `json:"revoked,omitempty"`
}

// Status returns the node's sync health.
func (n *Node) Status(ctx context.Context) (Health, error) {
	st, err := n.Store.Stats(ctx)
	sy := n.Syncer.Status()
	h := Health{
		Status: "ok", Node: n.Store.Node, Hub: n.cfg.HubURL, HubConnected: sy.Connected, HubReady: sy.Ready,
		LastError: sy.LastError, Cursor: st.Cursor, HubCursor: max(sy.HubCursor, st.Cursor),
		QueueDepth: st.Pending, DeadLetters: st.Dead, ClockWarning: sy.ClockWarning,
	}
	h.Lag = h.HubCursor - h.Cursor
	if !sy.LastContact.IsZero() {
		h.LastContact = sy.LastContact.UTC().Format(time.RFC3339)
	}
	if !st.OldestPending.IsZero() {
		h.OldestPending = n.cfg.Now().Sub(st.OldestPending).Seconds()
	}
	if !sy.Ready {
		h.Status = "degraded"
	}
	if h.Revoked = n.revoked(ctx); h.Revoked != "" {
		h.Status, h.HubConnected, h.HubReady = "revoked", false, false
	}
	return h, err
}

// syncBusy reports whether sync is still moving the replica: local changes wait to be
// pushed, or the hub has announced log positions not applied here yet (Integrity.Busy).
func (n *Node) syncBusy(ctx context.Context) bool {
	cur, err := n.Store.Cursor(ctx)
	if err != nil || cur < n.Syncer.Status().HubCursor {
		return true
	}
	p, err := n.Store.Pending(ctx, 1)
	return err != nil || len(p) > 0
}

func (n *Node) health(ctx context.Context) (any, bool) {
	h, err := n.Status(ctx)
	if err != nil {
		h.Status = "down"
		h.LastError = "database unavailable"
		return h, false
	}
	return h, h.Revoked == ""
}

// hubLogin checks credentials with the hub's login endpoint.
func (n *Node) hubLogin(ctx context.Context, username, password string) (domain.User, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return client.Login(ctx, n.Client, username, password)
}

// collector exports the node's sync state as aiff_edge_… metrics, read at scrape time.
type collector struct{ n *Node }

var (
	descPending   = prometheus.NewDesc("aiff_edge_outbox_pending", "Local changes not yet accepted by the hub.", nil, nil)
	descDead      = prometheus.NewDesc("aiff_edge_outbox_dead", "Local changes the hub rejected (dead letters).", nil, nil)
	descOldest    = prometheus.NewDesc("aiff_edge_outbox_oldest_pending_seconds", "Age of the oldest pending local change.", nil, nil)
	descCursor    = prometheus.NewDesc("aiff_edge_cursor", "Hub log position applied on this edge.", nil, nil)
	descHubCursor = prometheus.NewDesc("aiff_edge_hub_cursor", "Highest hub log position this edge has heard of.", nil, nil)
	descLag       = prometheus.NewDesc("aiff_edge_lag_changes", "Hub log positions not yet applied here.", nil, nil)
	descConnected = prometheus.NewDesc("aiff_edge_hub_connected", "1 while the change stream from the hub is live.", nil, nil)
	descPushed    = prometheus.NewDesc("aiff_edge_pushed_changes_total", "Local changes the hub accepted.", nil, nil)
	descApplied   = prometheus.NewDesc("aiff_edge_applied_changes_total", "Hub changes applied on this edge.", nil, nil)
	descDeadTotal = prometheus.NewDesc("aiff_edge_dead_lettered_total", "Local changes dead-lettered since start.", nil, nil)
	descPushErr   = prometheus.NewDesc("aiff_edge_push_errors_total", "Failed pushes.", nil, nil)
	descStreamErr = prometheus.NewDesc("aiff_edge_stream_errors_total", "Stream disconnects and failed connects.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descDead, descOldest, descCursor, descHubCursor, descLag, descConnected,
		descPushed, descApplied, descDeadTotal, descPushErr, descStreamErr} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h, err := c.n.Status(context.Background())
	if err != nil {
		return
	}
	sy := c.n.Syncer.Status()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(descPending, float64(h.QueueDepth))
	g(descDead, float64(h.DeadLetters))
	g(descOldest, h.OldestPending)
	g(descCursor, float64(h.Cursor))
	g(descHubCursor, float64(h.HubCursor))
	g(descLag, float64(h.Lag))
	conn := 0.0
	if sy.Ready {
		conn = 1
	}
	g(descConnected, conn)
	k(descPushed, sy.Pushed)
	k(descApplied, sy.Applied)
	k(descDeadTotal, sy.DeadLettered)
	k(descPushErr, sy.PushErrors)
	k(descStreamErr, sy.StreamErrors)
}
