package http_test

import (
	"encoding/base64"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/web"
)

// TestRoleMatrix calls every route of the table as every role and with every kind of bad
// credential, and checks the status against the table. Requests use bodies that cannot
// succeed (or ids that do not exist) so the matrix checks access, not side effects: the role
// check must answer before any of that is looked at.
func TestRoleMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.start()
		asset := firstAsset(t)
		missing := domain.NewID(t0)
		path := func(rt hubhttp.RouteInfo, role string) string {
			p := rt.Pattern
			switch {
			case strings.HasPrefix(p, "/api/tickets/{id}"):
				id := e.own.ID
				if rt.Method == "DELETE" {
					id = missing
				}
				p = strings.Replace(p, "{id}", id, 1)
			case strings.HasPrefix(p, "/api/auth/teams/{id}"):
				id := e.teamN.ID
				if rt.Method == "DELETE" {
					id = missing
				}
				p = strings.Replace(p, "{id}", id, 1)
			case strings.HasPrefix(p, "/api/users/{id}"):
				p = strings.Replace(p, "{id}", e.userID("viewer"), 1)
			case p == "/*":
				p = "/" + asset
			}
			return p
		}
		bad := e.badTokens()
		before := e.digest()
		for _, rt := range hubhttp.Routes() {
			var body any
			if rt.Method == "POST" || rt.Method == "PUT" {
				body = map[string]any{} // invalid for every write: 400 once access is granted
			}
			for _, role := range []string{"admin", "dispatcher", "field", "viewer"} {
				r := e.do(rt.Method, path(rt, role), e.tokens[role], body)
				access := rt.Perms.Of(domain.Role(role))
				switch {
				case rt.Public:
					if r.status >= 500 || r.status == 401 && rt.Method == "GET" {
						t.Errorf("%s %s as %s: %d %s", rt.Method, rt.Pattern, role, r.status, r.body)
					}
				case access == hubhttp.Deny:
					if r.status != 403 {
						t.Errorf("%s %s as %s: %d, want 403: %s", rt.Method, rt.Pattern, role, r.status, r.body)
					}
				case rt.Method == "GET":
					if r.status != 200 {
						t.Errorf("%s %s as %s: %d, want 200: %s", rt.Method, rt.Pattern, role, r.status, r.body)
					}
				default:
					if r.status == 401 || r.status == 403 || r.status >= 500 || r.status < 400 {
						t.Errorf("%s %s as %s: %d, want a 4xx other than 401/403: %s", rt.Method, rt.Pattern, role, r.status, r.body)
					}
				}
			}
			if rt.Public {
				continue
			}
			for name, tok := range bad {
				r := e.do(rt.Method, path(rt, "admin"), tok, body)
				if r.status != 401 || r.header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("%s %s with %s: %d %s, want 401 problem", rt.Method, rt.Pattern, name, r.status, r.body)
				}
			}
			r := e.do(rt.Method, path(rt, "admin"), "", body, "Authorization", "Basic YWRtaW46cGFzcw==")
			if r.status != 401 {
				t.Errorf("%s %s with basic auth: %d", rt.Method, rt.Pattern, r.status)
			}
		}
		e.unchanged(before)
	})
}

// badTokens are credentials that must all be refused (empty means no Authorization header).
func (e *env) badTokens() map[string]string {
	e.t.Helper()
	now := e.clock.Now()
	claims := jwt.MapClaims{"sub": "01JUSER0000000000000000000", "username": "admin", "role": "admin",
		"iss": auth.DefaultIssuerName, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "x"}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			e.t.Fatal(err)
		}
		return s
	}
	expired := jwt.MapClaims{}
	for k, v := range claims {
		expired[k] = v
	}
	expired["iat"], expired["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	good := sign(jwt.SigningMethodHS256, e.secret, claims)
	parts := strings.Split(good, ".")
	return map[string]string{
		"no token":      "",
		"expired":       sign(jwt.SigningMethodHS256, e.secret, expired),
		"forged":        sign(jwt.SigningMethodHS256, []byte(strings.Repeat("f", 32)), claims),
		"alg none":      sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
		"stripped sig":  parts[0] + "." + parts[1] + ".",
		"refresh token": e.refresh["admin"],
		"garbage":       base64.RawURLEncoding.EncodeToString([]byte("garbage")),
	}
}

func firstAsset(t *testing.T) string {
	var name string
	fs.WalkDir(web.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".html") && name == "" {
			name = p
		}
		return nil
	})
	if name == "" {
		t.Fatal("web.FS has no assets")
	}
	return name
}
