package http

import (
	"fmt"
	"strings"

	"github.com/aiff/aiff/domain"
)

// Access is what one role may do on one route.
type Access uint8

const (
	Deny    Access = iota // 403
	Allow                 // full access
	OwnTeam               // field users: only tickets assigned to their own team; others look absent (404)
)

// Perms is a route's access per role. The route table (routes.go) holds one per route; the
// role middleware enforces it and RolesMarkdown documents it, so the two cannot disagree.
type Perms struct{ Admin, Dispatcher, Field, Viewer Access }

// Of returns role's access.
func (p Perms) Of(r domain.Role) Access {
	switch r {
	case domain.RoleAdmin:
		return p.Admin
	case domain.RoleDispatcher:
		return p.Dispatcher
	case domain.RoleField:
		return p.Field
	case domain.RoleViewer:
		return p.Viewer
	}
	return Deny
}

// Named permission sets used by the route table.
var (
	permAdmin      = Perms{Admin: Allow}
	permStaffWrite = Perms{Admin: Allow, Dispatcher: Allow}
	permAnyUser    = Perms{Admin: Allow, Dispatcher: Allow, Field: Allow, Viewer: Allow}
	permAnalytics  = Perms{Admin: Allow, Dispatcher: Allow, Viewer: Allow}
	permTicketRead = Perms{Admin: Allow, Dispatcher: Allow, Field: OwnTeam, Viewer: Allow}
	permTicketEdit = Perms{Admin: Allow, Dispatcher: Allow, Field: OwnTeam}
)

// fieldStatuses are the statuses a field user may move their own team's tickets to: doing the
// work, pausing it and finishing it. Assigning, reopening, closing and cancelling are a
// dispatcher's decisions.
var fieldStatuses = []domain.Status{domain.StatusInProgress, domain.StatusOnHold, domain.StatusResolved}

// fieldEditable are the ticket fields a field user may PUT.
var fieldEditable = []string{"status", "customer_rating"}

// RolesMarkdown renders the role × route table as the markdown of ROLES.md.
func RolesMarkdown() string {
	var b strings.Builder
	b.WriteString("# Hub API roles\n\n")
	b.WriteString("Generated from the route table in `hub/http/routes.go` (`go test ./hub/http -run TestRolesMarkdown -update`);\n")
	b.WriteString("the same table drives the role middleware, so this page is what the server enforces.\n\n")
	b.WriteString("✓ allowed · ✗ 403 · **own team**: field users see only tickets assigned to their team (others answer 404) · public: no token needed\n\n")
	b.WriteString("| method | path | admin | dispatcher | field | viewer |\n| --- | --- | --- | --- | --- | --- |\n")
	cell := func(a Access) string {
		switch a {
		case Allow:
			return "✓"
		case OwnTeam:
			return "own team"
		}
		return "✗"
	}
	for _, rt := range routeTable {
		if rt.Public {
			fmt.Fprintf(&b, "| %s | `%s` | public | public | public | public |\n", rt.Method, rt.Pattern)
			continue
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", rt.Method, rt.Pattern,
			cell(rt.Perms.Admin), cell(rt.Perms.Dispatcher), cell(rt.Perms.Field), cell(rt.Perms.Viewer))
	}
	var st []string
	for _, s := range fieldStatuses {
		st = append(st, "`"+string(s)+"`")
	}
	fmt.Fprintf(&b, "\nField users may `PUT /api/tickets/{id}` only the fields %s, and only to move status to %s;\n"+
		"any other field is refused with 403 naming it. Field users must belong to a team.\n\n",
		"`status` and `customer_rating`", strings.Join(st, ", "))
	b.WriteString("`POST /api/auth/register` is admin-only on purpose: accounts carry a role, and a public sign-up would let\n" +
		"anyone on the network give themselves dispatcher rights over every ticket. Admins create users here or with\n" +
		"`aiff user add`.\n\n")
	b.WriteString("`PUT /api/users/{id}` with `is_active: false` deactivates a user everywhere: their refresh tokens are revoked,\n" +
		"their access tokens are refused within seconds (at once on the replica that took the update), and edges refuse\n" +
		"their sessions and drop their cached login when the change syncs. A change of role or team reaches open sessions\n" +
		"the same way: the hub and the edges take both from the user's row, not from the token. An admin cannot\n" +
		"deactivate or demote themself (`aiff user deactivate` works from the command line).\n")
	return b.String()
}

// RouteInfo describes one route of the table, for documentation and tests.
type RouteInfo struct {
	Method  string
	Pattern string
	Public  bool
	Perms   Perms
}

// Routes lists the route table.
func Routes() []RouteInfo {
	out := make([]RouteInfo, len(routeTable))
	for i, rt := range routeTable {
		out[i] = RouteInfo{rt.Method, rt.Pattern, rt.Public, rt.Perms}
	}
	return out
}
