package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aiff/aiff/domain"
)

// DefaultIssuerName is the `iss` claim of hub access tokens; Verify rejects any other.
const DefaultIssuerName = "aiff-hub"

// DefaultAccessTTL is the access token lifetime when JWT_EXPIRE_MINUTES is not set.
const DefaultAccessTTL = 30 * time.Minute

// KeyFile is the name of the EdDSA private key kept in the data dir when no secret is set.
const KeyFile = "jwt_ed25519.pem"

// MinSecretLen is the shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as
// long as the hash output (256 bits).
const MinSecretLen = 32

// Claims are the claims of an access token. Subject is the user id.
type Claims struct {
	Username string      `json:"username"`
	Role     domain.Role `json:"role"`
	TeamID   string      `json:"team_id,omitempty"`
	jwt.RegisteredClaims
}

// Principal returns the caller the token speaks for.
func (c Claims) Principal() domain.Principal {
	return domain.Principal{UserID: c.Subject, Username: c.Username, Role: c.Role, TeamID: c.TeamID}
}

// Issuer signs and verifies access tokens with exactly one algorithm: HS256 with a shared
// secret (every hub replica configured with the same JWT_SECRET_KEY), or EdDSA with an ed25519
// key pair (the embedded default). Verify accepts only that algorithm, which rules out `alg:none`
// and HS256-signed-with-the-public-key confusion.
type Issuer struct {
	Name string           // iss claim; DefaultIssuerName
	TTL  time.Duration    // access token lifetime; DefaultAccessTTL
	Now  func() time.Time // clock for iat/exp and for expiry checks

	method    jwt.SigningMethod
	signKey   any
	verifyKey any
}

// NewHS256Issuer returns an issuer signing with HMAC-SHA256 and secret, which must be at least
// MinSecretLen bytes.
func NewHS256Issuer(secret []byte) (*Issuer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("jwt secret is %d bytes; use at least %d", len(secret), MinSecretLen)
	}
	key := append([]byte(nil), secret...)
	return &Issuer{Name: DefaultIssuerName, TTL: DefaultAccessTTL, Now: time.Now,
		method: jwt.SigningMethodHS256, signKey: key, verifyKey: key}, nil
}

// NewEdDSAIssuer returns an issuer signing with the ed25519 key.
func NewEdDSAIssuer(key ed25519.PrivateKey) *Issuer {
	return &Issuer{Name: DefaultIssuerName, TTL: DefaultAccessTTL, Now: time.Now,
		method: jwt.SigningMethodEdDSA, signKey: key, verifyKey: key.Public()}
}

// NewIssuer picks the signing scheme from configuration: HS256 when secret is non-empty,
// otherwise EdDSA with the key pair in dataDir (created on first use, see LoadOrCreateKey).
func NewIssuer(secret, dataDir string) (*Issuer, error) {
	if secret != "" {
		return NewHS256Issuer([]byte(secret))
	}
	key, err := LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	return NewEdDSAIssuer(key), nil
}

// Alg is the one JWT algorithm this issuer signs and accepts ("HS256" or "EdDSA").
func (i *Issuer) Alg() string { return i.method.Alg() }

// LoadOrCreateKey returns the ed25519 private key stored in dir/KeyFile as PKCS#8 PEM, creating
// it (mode 0600, exclusively, so two processes starting together agree on one key) if absent. A
// key file readable by group or others is refused rather than trusted.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	if dir == "" {
		return nil, errors.New("jwt key: no data dir and no secret configured")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jwt key dir: %w", err)
	}
	path := filepath.Join(dir, KeyFile)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate jwt key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode jwt key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write jwt key: %w", err)
		}
		return priv, nil
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("create jwt key: %w", err)
	}
	return readKey(path)
}

func readKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("jwt key %s has mode %o; want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		// A racing creator may not have finished writing; the caller sees a clear error.
		return nil, fmt.Errorf("jwt key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jwt key %s: not an ed25519 key", path)
	}
	return priv, nil
}

// Issue returns a signed access token for u and its claims. The token carries the user's role
// and team at issue time; a role change takes effect at the next refresh.
func (i *Issuer) Issue(u domain.User) (string, Claims, error) {
	now := i.Now().UTC().Truncate(time.Second)
	c := Claims{
		Username: u.Username,
		Role:     u.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.Name,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.TTL)),
			ID:        domain.NewID(now),
		},
	}
	if u.TeamID != nil {
		c.TeamID = *u.TeamID
	}
	tok, err := jwt.NewWithClaims(i.method, c).SignedString(i.signKey)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return tok, c, nil
}

// Verify checks an access token's algorithm, signature, issuer and expiry and returns its
// claims. Any failure is CodeUnauthorized with a message that does not say which check failed
// beyond "expired", so a forger learns nothing.
func (i *Issuer) Verify(token string) (Claims, error) {
	var c Claims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{i.method.Alg()}),
		jwt.WithIssuer(i.Name),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(i.Now),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method != i.method {
			return nil, errors.New("unexpected signing method")
		}
		return i.verifyKey, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, domain.Errorf(domain.CodeUnauthorized, "access token expired")
	case err != nil:
		return Claims{}, domain.Errorf(domain.CodeUnauthorized, "invalid access token")
	case c.Subject == "" || !c.Role.Valid():
		return Claims{}, domain.Errorf(domain.CodeUnauthorized, "invalid access token")
	case c.Role == domain.RoleField && c.TeamID == "":
		return Claims{}, domain.Errorf(domain.CodeUnauthorized, "invalid access token")
	}
	return c, nil
}
