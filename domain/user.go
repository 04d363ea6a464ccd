package domain

import (
	"context"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Role decides what a user may do; see the role table in the README.
type Role string

const (
	RoleAdmin      Role = "admin"      // everything, including users and edge credentials
	RoleDispatcher Role = "dispatcher" // tickets, teams, assignment, analytics, AI
	RoleField      Role = "field"      // own team's tickets: read, status and notes
	RoleViewer     Role = "viewer"     // read-only dashboards
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleDispatcher, RoleField, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a person who logs in. Field users belong to a team.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Email        string    `json:"email"`
	Role         Role      `json:"role"`
	TeamID       *string   `json:"team_id"`
	IsActive     bool      `json:"is_active"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

var (
	usernameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,49}$`)
	emailRe    = regexp.MustCompile(`^[^\s@]{1,64}@[^\s@]{1,100}\.[^\s@]{1,20}$`)
)

// Validate checks the user's own fields; the store checks that the team exists.
func (u User) Validate() error {
	switch {
	case !usernameRe.MatchString(u.Username):
		return FieldErrorf("username", "username must be 2 to 50 letters, digits, '.', '_' or '-'")
	case u.Email != "" && !emailRe.MatchString(u.Email):
		return FieldErrorf("email", "email %q is not a valid address", u.Email)
	case !u.Role.Valid():
		return FieldErrorf("role", "unknown role %q (want admin, dispatcher, field or viewer)", u.Role)
	case u.Role == RoleField && (u.TeamID == nil || *u.TeamID == ""):
		return FieldErrorf("team_id", "a field user needs a team")
	case u.PasswordHash == "":
		return FieldErrorf("password", "password is required")
	}
	return nil
}

// ValidatePassword enforces the minimum password policy.
func ValidatePassword(p string) error {
	if utf8.RuneCountInString(p) < 4 {
		return FieldErrorf("password", "password must be at least 4 characters")
	}
	if utf8.RuneCountInString(p) > 128 {
		return FieldErrorf("password", "password is longer than 128 characters")
	}
	return nil
}

// Principal is who is calling: a user (from an access token) or an edge node (from an edge
// credential). Zones limits an edge's scope; a field user is limited to TeamID.
type Principal struct {
	UserID   string   `json:"user_id,omitempty"`
	Username string   `json:"username,omitempty"`
	Role     Role     `json:"role,omitempty"`
	TeamID   string   `json:"team_id,omitempty"`
	Node     string   `json:"node,omitempty"`  // edge or device node id that originated the request
	Zones    []string `json:"zones,omitempty"` // non-empty for edges: the zones in scope
}

// Actor names the principal in change records and audit logs.
func (p Principal) Actor() string {
	switch {
	case p.Username != "":
		return p.Username
	case p.Node != "":
		return "node:" + p.Node
	default:
		return "system"
	}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller in ctx; ok is false when there is none (system work).
func PrincipalFrom(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// RefreshToken is a long-lived, revocable token traded for new access tokens. Only its hash
// is stored.
type RefreshToken struct {
	Hash      string     `json:"-"`
	UserID    string     `json:"user_id"`
	ExpiresAt time.Time  `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}
