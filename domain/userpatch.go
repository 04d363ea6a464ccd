package domain

import "strings"

// UserPatch is a partial update of a user by an admin (PUT /api/users/{id}). Absent fields are
// left alone; team_id null takes the user out of their team, email null clears it. Usernames
// and passwords are not changed here: a username is the user's identity on every edge that
// cached their login, and a password belongs to its owner.
type UserPatch struct {
	Role     Opt[Role]   `json:"role,omitzero"`
	TeamID   Opt[string] `json:"team_id,omitzero"`
	Email    Opt[string] `json:"email,omitzero"`
	IsActive Opt[bool]   `json:"is_active,omitzero"`
}

// Empty reports whether the patch changes nothing.
func (p UserPatch) Empty() bool {
	return !(p.Role.Set || p.TeamID.Set || p.Email.Set || p.IsActive.Set)
}

// Apply returns u with the patch applied by the user actorID, validated. An admin may neither
// deactivate themself nor give up their own admin role: either could leave the hub with no
// one able to undo it. The store checks that a new team exists.
func (p UserPatch) Apply(u User, actorID string) (User, error) {
	if p.Empty() {
		return u, Errorf(CodeInvalid, "no fields to update")
	}
	self := actorID != "" && actorID == u.ID
	if p.Role.Set {
		if p.Role.Null || !p.Role.Value.Valid() {
			return u, FieldErrorf("role", "unknown role %q (want admin, dispatcher, field or viewer)", p.Role.Value)
		}
		if self && u.Role == RoleAdmin && p.Role.Value != RoleAdmin {
			return u, &Error{Code: CodeForbidden, Field: "role", Message: "you cannot remove your own admin role; ask another admin"}
		}
		u.Role = p.Role.Value
	}
	if p.TeamID.Set {
		switch {
		case p.TeamID.Null:
			u.TeamID = nil
		case !ValidID(p.TeamID.Value):
			return u, FieldErrorf("team_id", "unknown team %q", p.TeamID.Value)
		default:
			id := p.TeamID.Value
			u.TeamID = &id
		}
	}
	if p.Email.Set {
		u.Email = ""
		if !p.Email.Null {
			u.Email = strings.TrimSpace(p.Email.Value)
		}
	}
	if p.IsActive.Set {
		if p.IsActive.Null {
			return u, FieldErrorf("is_active", "is_active must be true or false")
		}
		if self && !p.IsActive.Value {
			return u, &Error{Code: CodeForbidden, Field: "is_active", Message: "you cannot deactivate yourself; ask another admin"}
		}
		u.IsActive = p.IsActive.Value
	}
	return u, u.Validate()
}
