package http_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	hubhttp "github.com/aiff/aiff/hub/http"
	"github.com/aiff/aiff/hub/storetest"
)

// BenchmarkActiveCheck measures an authenticated request to a cheap route (GET /api/zones on
// SQLite) with the active-user check answered from the cache (the default TTL) and with a TTL
// so short that every request reads the user from the store: the difference is what the
// cache saves per request.
func BenchmarkActiveCheck(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", 0}, {"store-read-per-request", time.Nanosecond}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			st := storetest.OpenSQLite(b, time.Now)
			hash, err := auth.HashPassword(password)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.CreateUser(ctx, domain.User{Username: "disp", Role: domain.RoleDispatcher, IsActive: true, PasswordHash: hash}); err != nil {
				b.Fatal(err)
			}
			iss, err := auth.NewHS256Issuer([]byte(strings.Repeat("s", 32)))
			if err != nil {
				b.Fatal(err)
			}
			svc := auth.NewService(st, iss)
			sess, err := svc.Login(ctx, "disp", password, "127.0.0.1")
			if err != nil {
				b.Fatal(err)
			}
			srv := hubhttp.NewServer()
			srv.Store, srv.Auth, srv.RateLimiter, srv.UserCacheTTL = st, svc, nil, bc.ttl
			h, tok := srv.Handler(), sess.AccessToken
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/api/zones", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}
