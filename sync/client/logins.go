package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/aiff/aiff/domain"
)

// MaxLoginIDs is how many user ids one POST /api/sync/logins may carry.
const MaxLoginIDs = 1000

// LoginStatus is the hub's word on one user an edge holds a cached login for.
type LoginStatus struct {
	ID       string `json:"id"`
	MayLogin bool   `json:"may_login"`
	// Reason is why not, when MayLogin is false: "deactivated", "unknown" (no such user).
	Reason   string      `json:"reason"`
	Username string      `json:"username"`
	Role     domain.Role `json:"role"`
	TeamID   *string     `json:"team_id"`
}

// Logins asks the hub whether the users with ids (at most MaxLoginIDs) may still log in at
// this edge (edge credentials only). The answer has one entry per distinct id.
func (c *Client) Logins(ctx context.Context, ids []string) ([]LoginStatus, error) {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(map[string]any{"users": ids})
	req, err := c.newRequest(ctx, http.MethodPost, "/api/sync/logins", nil, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do("logins", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Users []LoginStatus `json:"users"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, &Error{Op: "logins", Err: err, Detail: "decode logins: " + err.Error()}
	}
	return out.Users, nil
}
