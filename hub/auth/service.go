package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
)

// UserStore is what the auth service needs from the hub store (domain.Store satisfies it).
type UserStore interface {
	GetUser(ctx context.Context, id string) (domain.User, error)
	GetUserByUsername(ctx context.Context, username string) (domain.User, error)
	CreateRefreshToken(ctx context.Context, t domain.RefreshToken) error
	GetRefreshToken(ctx context.Context, hash string) (domain.RefreshToken, error)
	RevokeRefreshToken(ctx context.Context, hash string) error
}

// DefaultRefreshTTL is how long a refresh token stays usable if it is not rotated.
const DefaultRefreshTTL = 14 * 24 * time.Hour

// Session is what a successful login or refresh returns: an OAuth2-style token response plus
// the user, as the API sends it.
type Session struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"` // always "bearer"
	ExpiresIn    int         `json:"expires_in"` // seconds until the access token expires
	RefreshToken string      `json:"refresh_token"`
	User         domain.User `json:"user"`
}

// LockedError says a login was refused by the throttle and when to try again. It travels as
// the Err of a CodeTooManyRequests *domain.Error; the HTTP layer turns it into Retry-After.
type LockedError struct{ Wait time.Duration }

func (e *LockedError) Error() string { return fmt.Sprintf("locked for %s", e.Wait) }

// RetryAfter is how long the caller should wait.
func (e *LockedError) RetryAfter() time.Duration { return e.Wait }

// Service logs users in and out and verifies access tokens. Set the exported fields before
// first use; NewService fills defaults.
type Service struct {
	Store        UserStore
	Tokens       *Issuer
	UserThrottle Throttle // failures per username (lower-cased); 5 then exponential lockout
	IPThrottle   Throttle // failures per client IP; 20, so one office behind NAT is not locked out by one user
	RefreshTTL   time.Duration
	Now          func() time.Time

	// refreshMu serializes refresh-token rotation inside this process, so a token presented
	// twice at once is honoured once. Across replicas the window is one store round trip.
	refreshMu sync.Mutex
}

// NewService returns a service over store signing with tokens, with in-process throttles.
func NewService(store UserStore, tokens *Issuer) *Service {
	return &Service{
		Store:        store,
		Tokens:       tokens,
		UserThrottle: NewMemoryThrottle(5),
		IPThrottle:   NewMemoryThrottle(20),
		RefreshTTL:   DefaultRefreshTTL,
		Now:          time.Now,
	}
}

var errBadLogin = domain.Errorf(domain.CodeUnauthorized, "invalid username or password")

var (
	dummyOnce sync.Once
	dummyHash string
)

// Login checks username and password and opens a session. Unknown users, wrong passwords and
// inactive accounts all get the same CodeUnauthorized after the same amount of hashing work,
// so the answer does not reveal which usernames exist. Failures count against both the username
// and clientIP; a locked key gets CodeTooManyRequests wrapping *LockedError before any password
// is checked.
func (s *Service) Login(ctx context.Context, username, password, clientIP string) (Session, error) {
	userKey := "user:" + strings.ToLower(username)
	ipKey := "ip:" + clientIP
	for _, c := range []struct {
		t   Throttle
		key string
	}{{s.UserThrottle, userKey}, {s.IPThrottle, ipKey}} {
		if c.t == nil {
			continue
		}
		wait, err := c.t.Check(ctx, c.key)
		if err != nil {
			return Session{}, fmt.Errorf("login throttle: %w", err)
		}
		if wait > 0 {
			return Session{}, locked(wait)
		}
	}
	u, err := s.Store.GetUserByUsername(ctx, username)
	var ok bool
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound || domain.ErrorCode(err) == domain.CodeInvalid:
		dummyOnce.Do(func() { dummyHash, _ = HashPassword("aiff-dummy-password") })
		CheckPassword(dummyHash, password)
	case err != nil:
		return Session{}, fmt.Errorf("login: %w", err)
	default:
		if ok, err = CheckPassword(u.PasswordHash, password); err != nil {
			return Session{}, fmt.Errorf("login %s: %w", u.ID, err)
		}
		ok = ok && u.IsActive
	}
	if !ok {
		for _, c := range []struct {
			t   Throttle
			key string
		}{{s.UserThrottle, userKey}, {s.IPThrottle, ipKey}} {
			if c.t == nil {
				continue
			}
			if _, err := c.t.Fail(ctx, c.key); err != nil {
				return Session{}, fmt.Errorf("login throttle: %w", err)
			}
		}
		return Session{}, errBadLogin
	}
	if s.UserThrottle != nil {
		if err := s.UserThrottle.Reset(ctx, userKey); err != nil {
			return Session{}, fmt.Errorf("login throttle: %w", err)
		}
	}
	return s.open(ctx, u)
}

func locked(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	return &domain.Error{Code: domain.CodeTooManyRequests, Err: &LockedError{Wait: wait},
		Message: fmt.Sprintf("too many failed logins; try again in %d s", secs)}
}

// open issues an access token and a new refresh token for u.
func (s *Service) open(ctx context.Context, u domain.User) (Session, error) {
	access, claims, err := s.Tokens.Issue(u)
	if err != nil {
		return Session{}, err
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return Session{}, err
	}
	now := s.Now().UTC()
	if err := s.Store.CreateRefreshToken(ctx, domain.RefreshToken{
		Hash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.RefreshTTL),
	}); err != nil {
		return Session{}, fmt.Errorf("store refresh token: %w", err)
	}
	return Session{
		AccessToken:  access,
		TokenType:    "bearer",
		ExpiresIn:    int(claims.ExpiresAt.Sub(claims.IssuedAt.Time) / time.Second),
		RefreshToken: refresh,
		User:         u,
	}, nil
}

// Refresh trades a refresh token for a new session and revokes it (rotation): each refresh
// token works once. Unknown, revoked or expired tokens, and tokens of deactivated users, get
// CodeUnauthorized.
func (s *Service) Refresh(ctx context.Context, token string) (Session, error) {
	bad := domain.Errorf(domain.CodeUnauthorized, "invalid refresh token")
	hash, ok := HashRefreshToken(token)
	if !ok {
		return Session{}, bad
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	rt, err := s.Store.GetRefreshToken(ctx, hash)
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return Session{}, bad
	case err != nil:
		return Session{}, fmt.Errorf("refresh: %w", err)
	case rt.RevokedAt != nil || !s.Now().Before(rt.ExpiresAt):
		return Session{}, bad
	}
	u, err := s.Store.GetUser(ctx, rt.UserID)
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
		return Session{}, bad
	case err != nil:
		return Session{}, fmt.Errorf("refresh: %w", err)
	case !u.IsActive:
		return Session{}, bad
	}
	if err := s.Store.RevokeRefreshToken(ctx, hash); err != nil {
		return Session{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	return s.open(ctx, u)
}

// Logout revokes a refresh token. It is idempotent: an unknown or already revoked token is not
// an error, so a client can always log out.
func (s *Service) Logout(ctx context.Context, token string) error {
	hash, ok := HashRefreshToken(token)
	if !ok {
		return nil
	}
	if err := s.Store.RevokeRefreshToken(ctx, hash); err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// Authenticate verifies a bearer access token and returns the caller.
func (s *Service) Authenticate(_ context.Context, bearer string) (domain.Principal, error) {
	c, err := s.Tokens.Verify(bearer)
	if err != nil {
		return domain.Principal{}, err
	}
	return c.Principal(), nil
}

const refreshTokenBytes = 32

// newRefreshToken returns a refresh token (32 random bytes, base64url) and the hash to store.
func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	hash, _ = HashRefreshToken(token)
	return token, hash, nil
}

// HashRefreshToken returns the stored form of a refresh token, the hex SHA-256 of its bytes;
// ok is false for anything that is not a well-formed refresh token. A fast hash is enough:
// the token has 256 bits of entropy, so there is nothing to brute-force.
func HashRefreshToken(token string) (hash string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != refreshTokenBytes {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), true
}
