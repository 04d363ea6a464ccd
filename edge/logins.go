package edge

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
)

// DefaultLoginCheckInterval is how often a connected edge asks the hub about the cached
// logins it cannot follow through the sync log.
const DefaultLoginCheckInterval = 30 * time.Second

// LoginCheck keeps the edge's cached logins honest for users it does not replicate
// (sync/PROTOCOL.md §10). A user of a team in the edge's zones is a replicated row, and their
// deactivation syncs in like any change; a dispatcher, admin or viewer (or a user of another
// zone's team) who logged in here is not, so while the hub is reachable the edge asks it
// (POST /api/sync/logins) whether they may still log in, and for each who may not deletes
// the cached password hash and refuses their edge tokens from then on (recorded in the
// store, so a restart keeps refusing them). While the hub is unreachable nothing is asked and
// nothing changes: cached logins are what lets users in offline.
type LoginCheck struct {
	Store  *sqlite.Store
	Client *client.Client
	Logger *slog.Logger
	// Interval between checks while connected (default DefaultLoginCheckInterval). A check
	// also runs as soon as the edge (re)connects.
	Interval time.Duration
	// Connected reports whether the hub is reachable now (the sync stream is open).
	Connected func() bool
	// Keep is how long a revocation is kept: the lifetime of the edge's tokens.
	Keep time.Duration
	// Now is the clock (default time.Now); the store's, so that "asked" compares with the
	// time the store wrote a cached login.
	Now func() time.Time

	unsupported bool // the hub answered 404: it predates the endpoint; said once
}

func (lc *LoginCheck) logger() *slog.Logger {
	if lc.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return lc.Logger
}

func (lc *LoginCheck) now() time.Time {
	if lc.Now == nil {
		return time.Now()
	}
	return lc.Now()
}

// Run checks at every Interval while connected, and at once on each (re)connection, until
// ctx ends. A failed check is logged and tried again at the next one.
func (lc *LoginCheck) Run(ctx context.Context) {
	interval := lc.Interval
	if interval <= 0 {
		interval = DefaultLoginCheckInterval
	}
	connected := lc.Connected
	if connected == nil {
		connected = func() bool { return true }
	}
	// Poll the connection state (the syncer has no notification) at most every second, so
	// that a reconnection is followed by a check within one.
	tick := time.NewTicker(min(interval, time.Second))
	defer tick.Stop()
	var last time.Time
	was := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		up := connected()
		if up && (!was || time.Since(last) >= interval) {
			last = time.Now()
			if _, err := lc.Check(ctx); err != nil && ctx.Err() == nil {
				lc.logger().Warn("login check", "error", err)
			}
		}
		was = up
	}
}

// Check asks the hub once about every cached login of a user not replicated here and revokes
// those the hub says may no longer log in; it returns how many it revoked. An error leaves
// every login as it was.
func (lc *LoginCheck) Check(ctx context.Context) (int, error) {
	if lc.Keep > 0 {
		if err := lc.Store.PruneRevokedLogins(ctx, lc.now().Add(-lc.Keep)); err != nil {
			return 0, err
		}
	}
	creds, err := lc.Store.UnreplicatedLogins(ctx)
	if err != nil || len(creds) == 0 {
		return 0, err
	}
	cached := make(map[string]domain.User, len(creds))
	ids := make([]string, 0, len(creds))
	for _, c := range creds {
		cached[c.User.ID] = c.User
		ids = append(ids, c.User.ID)
	}
	revoked := 0
	for batch := range slices.Chunk(ids, client.MaxLoginIDs) {
		asked := lc.now()
		answer, err := lc.Client.Logins(ctx, batch)
		if err != nil {
			if domain.ErrorCode(err) == domain.CodeNotFound {
				if !lc.unsupported {
					lc.unsupported = true
					lc.logger().Info("the hub cannot check logins; cached logins of users not replicated here stay until they log in again")
				}
				return revoked, nil
			}
			return revoked, err
		}
		for _, st := range answer {
			u, ok := cached[st.ID]
			if !ok {
				continue // not asked
			}
			if st.MayLogin {
				if st.Role != "" && (st.Role != u.Role || !sameTeam(st.TeamID, u.TeamID)) {
					if err := lc.Store.RefreshLogin(ctx, domain.User{ID: u.ID, Role: st.Role, TeamID: st.TeamID}); err != nil {
						return revoked, err
					}
				}
				continue
			}
			reason := st.Reason
			if reason == "" {
				reason = "refused"
			}
			done, err := lc.Store.RevokeLogin(ctx, u.ID, u.Username, reason, asked)
			if err != nil {
				return revoked, err
			}
			if done {
				revoked++
				lc.logger().Info("revoked cached login", "user", u.Username, "user_id", u.ID, "reason", reason)
			}
		}
	}
	return revoked, nil
}

func sameTeam(a, b *string) bool {
	return (a == nil || *a == "") == (b == nil || *b == "") && (a == nil || b == nil || *a == *b)
}

// startLoginCheck starts the node's login check (owned by n.wg, stopped by ctx).
func (n *Node) startLoginCheck(ctx context.Context) {
	n.Logins = &LoginCheck{
		Store: n.Store, Client: n.Client, Logger: n.logger.With(logKeyComponent, "logins"),
		Interval: n.cfg.LoginCheckInterval, Keep: n.cfg.TokenTTL, Now: n.cfg.Now,
		Connected: func() bool { return n.Syncer.Status().Connected },
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.Logins.Run(ctx)
	}()
}
