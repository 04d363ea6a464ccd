package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/hub/procstat"
)

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry its parameters", h)
	}
	h2, _ := auth.HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}, {"correct horse ", false}} {
		got, err := auth.CheckPassword(h, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	if auth.NeedsRehash(h) {
		t.Error("fresh hash needs rehash")
	}
}

func TestPasswordParamsInHash(t *testing.T) {
	p := auth.PasswordParams{Time: 1, Memory: 1024, Threads: 1, SaltLen: 8, KeyLen: 16}
	h, err := auth.HashPasswordParams("pw", p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.CheckPassword(h, "pw"); !ok || err != nil {
		t.Fatalf("hash with custom params does not verify: %v %v", ok, err)
	}
	if !auth.NeedsRehash(h) {
		t.Error("weak hash does not need rehash")
	}
	if _, err := auth.HashPasswordParams("pw", auth.PasswordParams{Time: 1, Memory: 1, Threads: 1, SaltLen: 2, KeyLen: 16}); err == nil {
		t.Error("accepted a 2-byte salt")
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	good, _ := auth.HashPasswordParams("pw", auth.PasswordParams{Time: 1, Memory: 1024, Threads: 1, SaltLen: 16, KeyLen: 32})
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":       "",
		"bcrypt":      "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"argon2i":     strings.Replace(good, "argon2id", "argon2i", 1),
		"version":     strings.Replace(good, "v=19", "v=16", 1),
		"huge memory": strings.Replace(good, "m=1024", "m=99999999", 1),
		"zero time":   strings.Replace(good, "t=1", "t=0", 1),
		"bad salt":    strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"short key":   strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra part":  good + "$x",
		"unknown key": strings.Replace(good, "p=1", "q=1", 1),
	} {
		if ok, err := auth.CheckPassword(h, "pw"); ok || err == nil {
			t.Errorf("%s: CheckPassword = %v, %v; want false, error", name, ok, err)
		}
	}
}

// TestPasswordTiming checks that one login stays under the ~50 ms budget on this machine.
func TestPasswordTiming(t *testing.T) {
	h, _ := auth.HashPassword("pw")
	// The cheapest of several checks, in CPU time used by this process (user and system, all
	// threads): the cost of the hash itself, not of whatever else the shared machine runs at
	// that moment. Wall time was the measure once, and failed CI when other test binaries
	// held both cores (239 ms for a check that costs ~20 ms).
	per := time.Duration(1<<63 - 1)
	for range 7 {
		c0 := processCPU(t)
		auth.CheckPassword(h, "pw")
		per = min(per, processCPU(t)-c0)
	}
	limit := 150 * time.Millisecond
	if raceEnabled {
		limit *= 4 // the race detector instruments argon2's Go code
	}
	t.Logf("argon2id check: %v of CPU (limit %v)", per, limit)
	if per > limit {
		t.Errorf("password check takes %v of CPU", per)
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	cpu, err := procstat.CPU()
	if err != nil {
		t.Fatal(err)
	}
	return cpu
}

func newClock(t0 time.Time) (*time.Time, func() time.Time) {
	var mu sync.Mutex
	now := t0
	return &now, func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
}

func fieldUser() domain.User {
	team := "01JTEAM0000000000000000000"
	return domain.User{ID: "01JUSER0000000000000000000", Username: "fiona", Role: domain.RoleField, TeamID: &team, IsActive: true}
}

func TestIssuerRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hs, err := auth.NewHS256Issuer([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	for _, iss := range []*auth.Issuer{hs, auth.NewEdDSAIssuer(priv)} {
		t.Run(iss.Alg(), func(t *testing.T) {
			tok, c, err := iss.Issue(fieldUser())
			if err != nil {
				t.Fatal(err)
			}
			got, err := iss.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			p := got.Principal()
			if p.UserID != fieldUser().ID || p.Username != "fiona" || p.Role != domain.RoleField || p.TeamID != *fieldUser().TeamID {
				t.Errorf("principal = %+v", p)
			}
			if got.ID == "" || got.ID != c.ID || got.IssuedAt == nil || got.ExpiresAt.Sub(got.IssuedAt.Time) != auth.DefaultAccessTTL {
				t.Errorf("claims = %+v", got)
			}
		})
	}
}

func TestHS256SecretTooShort(t *testing.T) {
	if _, err := auth.NewHS256Issuer([]byte("short")); err == nil {
		t.Fatal("accepted a 5-byte secret")
	}
}

// TestVerifyRejects covers every way a token must be refused.
func TestVerifyRejects(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	now, clock := newClock(t0)
	secret := []byte(strings.Repeat("k", 32))
	hs, _ := auth.NewHS256Issuer(secret)
	hs.Now = clock
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ed := auth.NewEdDSAIssuer(priv)
	ed.Now = clock

	claims := func(iss string, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"sub": "01JUSER0000000000000000000", "username": "a", "role": "admin",
			"iss": iss, "iat": t0.Unix(), "exp": exp.Unix(), "jti": "x"}
	}
	good := claims(auth.DefaultIssuerName, t0.Add(time.Hour))
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)
	otherSecret := sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), good)
	hsGood := sign(jwt.SigningMethodHS256, secret, good)
	edGood := sign(jwt.SigningMethodEdDSA, priv, good)
	// HS/EdDSA confusion: an HMAC signed with the public key bytes must not pass the EdDSA verifier.
	confused := sign(jwt.SigningMethodHS256, []byte(pub), good)
	wrongIss := sign(jwt.SigningMethodHS256, secret, claims("someone-else", t0.Add(time.Hour)))
	expired := sign(jwt.SigningMethodHS256, secret, claims(auth.DefaultIssuerName, t0.Add(-time.Minute)))
	noExp := jwt.MapClaims{"sub": "u", "username": "a", "role": "admin", "iss": auth.DefaultIssuerName}
	badRole := claims(auth.DefaultIssuerName, t0.Add(time.Hour))
	badRole["role"] = "root"
	fieldNoTeam := claims(auth.DefaultIssuerName, t0.Add(time.Hour))
	fieldNoTeam["role"] = "field"
	tampered := hsGood[:len(hsGood)-2] + "AA"
	// Payload swapped for an admin one, signature kept.
	parts := strings.Split(sign(jwt.SigningMethodHS256, secret, claims(auth.DefaultIssuerName, t0.Add(time.Hour))), ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"evil","role":"admin","iss":"aiff-hub","exp":9999999999}`))
	swapped := strings.Join(parts, ".")

	cases := []struct {
		name string
		iss  *auth.Issuer
		tok  string
	}{
		{"hs none", hs, none},
		{"ed none", ed, none},
		{"hs other secret", hs, otherSecret},
		{"hs gets eddsa", hs, edGood},
		{"ed gets hs", ed, hsGood},
		{"ed gets hs keyed with public key", ed, confused},
		{"wrong issuer", hs, wrongIss},
		{"expired", hs, expired},
		{"no exp", hs, sign(jwt.SigningMethodHS256, secret, noExp)},
		{"unknown role", hs, sign(jwt.SigningMethodHS256, secret, badRole)},
		{"field without team", hs, sign(jwt.SigningMethodHS256, secret, fieldNoTeam)},
		{"tampered signature", hs, tampered},
		{"swapped payload", hs, swapped},
		{"empty", hs, ""},
		{"garbage", hs, "not.a.jwt"},
		{"refresh token", hs, base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
	}
	for _, tc := range cases {
		_, err := tc.iss.Verify(tc.tok)
		if domain.ErrorCode(err) != domain.CodeUnauthorized {
			t.Errorf("%s: Verify err = %v; want unauthorized", tc.name, err)
		}
	}
	if _, err := hs.Verify(hsGood); err != nil {
		t.Errorf("good HS256 token refused: %v", err)
	}
	if _, err := ed.Verify(edGood); err != nil {
		t.Errorf("good EdDSA token refused: %v", err)
	}
	// A token issued now expires after the TTL.
	tok, _, _ := hs.Issue(fieldUser())
	*now = t0.Add(auth.DefaultAccessTTL + time.Minute)
	if _, err := hs.Verify(tok); domain.ErrorMessage(err) != "access token expired" {
		t.Errorf("after TTL: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, auth.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	k2, err := auth.LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load returned a different key (%v)", err)
	}
	// Tokens survive a restart: an issuer built from the reloaded key verifies the first one's.
	i1, i2 := auth.NewEdDSAIssuer(k1), auth.NewEdDSAIssuer(k2)
	tok, _, _ := i1.Issue(fieldUser())
	if _, err := i2.Verify(tok); err != nil {
		t.Errorf("token from before restart refused: %v", err)
	}
	os.Chmod(filepath.Join(dir, auth.KeyFile), 0o644)
	if _, err := auth.LoadOrCreateKey(dir); err == nil {
		t.Error("accepted a world-readable key file")
	}
	if _, err := auth.NewIssuer("", ""); err == nil {
		t.Error("NewIssuer with neither secret nor data dir succeeded")
	}
	iss, err := auth.NewIssuer(strings.Repeat("z", 40), "")
	if err != nil || iss.Alg() != "HS256" {
		t.Errorf("NewIssuer with secret = %v, %v", iss, err)
	}
	iss, err = auth.NewIssuer("", t.TempDir())
	if err != nil || iss.Alg() != "EdDSA" {
		t.Errorf("NewIssuer without secret = %v, %v", iss, err)
	}
}

func TestMemoryThrottle(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now, clock := newClock(t0)
	th := auth.NewMemoryThrottle(3)
	th.Now = clock
	for i := range 2 {
		if d, _ := th.Fail(ctx, "k"); d != 0 {
			t.Fatalf("failure %d locked for %v", i+1, d)
		}
	}
	if d, _ := th.Check(ctx, "k"); d != 0 {
		t.Fatalf("locked after 2 failures: %v", d)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if d, _ := th.Fail(ctx, "k"); d != want {
			t.Fatalf("failure %d: lockout %v, want %v", i+3, d, want)
		}
	}
	if d, _ := th.Check(ctx, "k"); d != 8*time.Second {
		t.Fatalf("Check = %v, want 8s", d)
	}
	if d, _ := th.Check(ctx, "other"); d != 0 {
		t.Fatalf("other key locked: %v", d)
	}
	*now = t0.Add(8 * time.Second)
	if d, _ := th.Check(ctx, "k"); d != 0 {
		t.Fatalf("still locked after lockout: %v", d)
	}
	// The cap holds however many failures pile up.
	for range 60 {
		th.Fail(ctx, "k")
	}
	if d, _ := th.Check(ctx, "k"); d != th.MaxLockout {
		t.Fatalf("lockout %v, want cap %v", d, th.MaxLockout)
	}
	th.Reset(ctx, "k")
	if d, _ := th.Check(ctx, "k"); d != 0 {
		t.Fatalf("locked after reset: %v", d)
	}
	// Old failures are forgotten after the window.
	th.Fail(ctx, "w")
	th.Fail(ctx, "w")
	*now = now.Add(th.Window + time.Second)
	if d, _ := th.Fail(ctx, "w"); d != 0 {
		t.Fatalf("stale failures counted: locked %v", d)
	}
	// Memory stays bounded under a flood of keys.
	th.MaxKeys = 100
	for i := range 1000 {
		th.Fail(ctx, "flood"+string(rune('a'+i%26))+time.Duration(i).String())
	}
	if d, _ := th.Check(ctx, "flood-a"); d != 0 {
		t.Fatal("unknown key locked")
	}
}

// memStore is the narrow auth.UserStore over maps, so the service's rules are tested without
// a database; the HTTP suite exercises the same flows on SQLite and Postgres.
type memStore struct {
	mu     sync.Mutex
	users  map[string]domain.User
	tokens map[string]domain.RefreshToken
	now    func() time.Time
}

func (m *memStore) GetUser(_ context.Context, id string) (domain.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.users[id]; ok {
		return u, nil
	}
	return domain.User{}, domain.Errorf(domain.CodeNotFound, "user not found")
}

func (m *memStore) GetUserByUsername(_ context.Context, name string) (domain.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Username == name {
			return u, nil
		}
	}
	return domain.User{}, domain.Errorf(domain.CodeNotFound, "user not found")
}

func (m *memStore) CreateRefreshToken(_ context.Context, t domain.RefreshToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[t.Hash] = t
	return nil
}

func (m *memStore) GetRefreshToken(_ context.Context, h string) (domain.RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tokens[h]; ok {
		return t, nil
	}
	return domain.RefreshToken{}, domain.Errorf(domain.CodeNotFound, "token not found")
}

func (m *memStore) RevokeRefreshToken(_ context.Context, h string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tokens[h]; ok && t.RevokedAt == nil {
		now := m.now()
		t.RevokedAt = &now
		m.tokens[h] = t
	}
	return nil
}

var (
	hashOnce sync.Once
	pwHash   string
)

func newService(t *testing.T) (*auth.Service, *memStore, *time.Time) {
	t.Helper()
	hashOnce.Do(func() { pwHash, _ = auth.HashPassword("secret-pw") })
	now, clock := newClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &memStore{users: map[string]domain.User{}, tokens: map[string]domain.RefreshToken{}, now: clock}
	u := fieldUser()
	u.PasswordHash = pwHash
	st.users[u.ID] = u
	off := u
	off.ID, off.Username, off.IsActive = "01JUSER0000000000000000001", "gone", false
	st.users[off.ID] = off
	iss, _ := auth.NewHS256Issuer([]byte(strings.Repeat("q", 32)))
	iss.Now = clock
	svc := auth.NewService(st, iss)
	svc.Now = clock
	for _, th := range []auth.Throttle{svc.UserThrottle, svc.IPThrottle} {
		th.(*auth.MemoryThrottle).Now = clock
	}
	return svc, st, now
}

func TestLoginRefreshLogout(t *testing.T) {
	ctx := context.Background()
	svc, st, now := newService(t)
	s, err := svc.Login(ctx, "fiona", "secret-pw", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenType != "bearer" || s.ExpiresIn != 1800 || s.User.Username != "fiona" || s.AccessToken == "" {
		t.Fatalf("session = %+v", s)
	}
	p, err := svc.Authenticate(ctx, s.AccessToken)
	if err != nil || p.Username != "fiona" || p.Role != domain.RoleField {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	// Only the hash is stored.
	for h := range st.tokens {
		if strings.Contains(h, s.RefreshToken) || h == s.RefreshToken {
			t.Fatal("refresh token stored in clear")
		}
	}
	if _, err := svc.Authenticate(ctx, s.RefreshToken); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Fatalf("refresh token accepted as access token: %v", err)
	}
	// Rotation: the old refresh token works once.
	s2, err := svc.Refresh(ctx, s.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if s2.RefreshToken == s.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	if _, err := svc.Refresh(ctx, s.RefreshToken); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Fatalf("reused refresh token: %v", err)
	}
	// Logout revokes; it is idempotent and tolerates garbage.
	for _, tok := range []string{s2.RefreshToken, s2.RefreshToken, "garbage"} {
		if err := svc.Logout(ctx, tok); err != nil {
			t.Fatalf("Logout: %v", err)
		}
	}
	if _, err := svc.Refresh(ctx, s2.RefreshToken); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Fatalf("refresh after logout: %v", err)
	}
	// Expiry.
	s3, _ := svc.Login(ctx, "fiona", "secret-pw", "10.0.0.1")
	*now = now.Add(svc.RefreshTTL)
	if _, err := svc.Refresh(ctx, s3.RefreshToken); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Fatalf("expired refresh token: %v", err)
	}
	for _, bad := range []string{"", "x", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), s.AccessToken} {
		if _, err := svc.Refresh(ctx, bad); domain.ErrorCode(err) != domain.CodeUnauthorized {
			t.Errorf("Refresh(%q) = %v", bad, err)
		}
	}
}

func TestConcurrentRefreshHonouredOnce(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	s, err := svc.Login(ctx, "fiona", "secret-pw", "ip")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if _, err := svc.Refresh(ctx, s.RefreshToken); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes succeeded; want 1", ok)
	}
}

func TestLoginFailuresAndThrottle(t *testing.T) {
	ctx := context.Background()
	svc, _, now := newService(t)
	for _, tc := range []struct{ user, pw string }{{"fiona", "wrong"}, {"nobody", "secret-pw"}, {"gone", "secret-pw"}} {
		_, err := svc.Login(ctx, tc.user, tc.pw, "10.0.0."+tc.user)
		if domain.ErrorCode(err) != domain.CodeUnauthorized || domain.ErrorMessage(err) != "invalid username or password" {
			t.Errorf("Login(%s, %s) = %v; want the one unauthorized message", tc.user, tc.pw, err)
		}
	}
	// Per username: 5 failures from changing IPs lock the account, even for the right password.
	svc.UserThrottle.Reset(ctx, "user:fiona")
	for i := range 5 {
		svc.Login(ctx, "fiona", "wrong", "10.1.0."+string(rune('0'+i)))
	}
	_, err := svc.Login(ctx, "FIONA", "secret-pw", "10.2.0.1")
	var le *auth.LockedError
	if domain.ErrorCode(err) != domain.CodeTooManyRequests || !errors.As(err, &le) || le.RetryAfter() <= 0 {
		t.Fatalf("locked login = %v", err)
	}
	*now = now.Add(le.RetryAfter())
	if _, err := svc.Login(ctx, "fiona", "secret-pw", "10.2.0.1"); err != nil {
		t.Fatalf("login after lockout: %v", err)
	}
	// Success resets the username counter: one more failure does not lock.
	svc.Login(ctx, "fiona", "wrong", "10.3.0.1")
	if _, err := svc.Login(ctx, "fiona", "secret-pw", "10.3.0.1"); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
	// Per IP: 20 failures over many usernames lock the address, not other addresses.
	for i := range 20 {
		svc.Login(ctx, "user"+string(rune('a'+i)), "x", "10.9.9.9")
	}
	if _, err := svc.Login(ctx, "fiona", "secret-pw", "10.9.9.9"); domain.ErrorCode(err) != domain.CodeTooManyRequests {
		t.Fatalf("login from locked IP = %v", err)
	}
	if _, err := svc.Login(ctx, "fiona", "secret-pw", "10.9.9.8"); err != nil {
		t.Fatalf("login from another IP = %v", err)
	}
}
