// Package auth is the hub's authentication: argon2id password hashes, signed JWT access tokens,
// opaque refresh tokens stored only as hashes, and a login throttle. It knows users only through
// the domain types and a narrow store interface, so the HTTP layer, the CLI (`aiff user add`)
// and edge nodes can all use it.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/aiff/aiff/domain"
)

// PasswordParams are the argon2id cost parameters. They are written into every hash string, so
// changing the defaults later only affects new hashes; old ones still verify.
type PasswordParams struct {
	Time    uint32 // iterations
	Memory  uint32 // KiB
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultPasswordParams follow the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane). On
// the 2-core test machine one hash takes about 20 ms, which keeps a login well under 50 ms while
// making offline guessing costly.
var DefaultPasswordParams = PasswordParams{Time: 2, Memory: 19 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds accepted when parsing a stored hash, so that a corrupted or hostile hash string cannot
// make a login allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxKeyLen    = 128
)

// HashPassword returns an argon2id hash of password in the PHC string format
// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>` with a fresh random salt.
func HashPassword(password string) (string, error) {
	return HashPasswordParams(password, DefaultPasswordParams)
}

// HashPasswordParams is HashPassword with explicit cost parameters.
func HashPasswordParams(password string, p PasswordParams) (string, error) {
	if p.Time == 0 || p.Memory == 0 || p.Threads == 0 || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", fmt.Errorf("argon2id parameters too weak: %+v", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, comparing in constant time. A malformed
// hash is an error (never a match), so a broken row cannot be logged into.
func CheckPassword(hash, password string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether hash was made with parameters other than DefaultPasswordParams,
// so a caller can upgrade it after a successful login.
func NeedsRehash(hash string) bool {
	p, _, key, err := parseHash(hash)
	if err != nil {
		return true
	}
	d := DefaultPasswordParams
	return p.Time != d.Time || p.Memory != d.Memory || p.Threads != d.Threads || uint32(len(key)) != d.KeyLen
}

func parseHash(hash string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return p, nil, nil, domain.Errorf(domain.CodeInternal, "malformed password hash: %s", why)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameters")
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("parameters")
			}
			p.Threads = uint8(n)
		default:
			return bad("parameters")
		}
	}
	if p.Memory == 0 || p.Memory > maxMemoryKiB || p.Time == 0 || p.Time > maxTime || p.Threads == 0 {
		return bad("parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return bad("key")
	}
	p.SaltLen = uint32(len(salt))
	p.KeyLen = uint32(len(key))
	return p, salt, key, nil
}
