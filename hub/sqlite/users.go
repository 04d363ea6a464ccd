package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/aiff/aiff/domain"
)

const userCols = "id, username, email, role, team_id, is_active, password_hash, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }) (domain.User, error) {
	var (
		u                domain.User
		email, team      sql.NullString
		created, updated int64
	)
	if err := row.Scan(&u.ID, &u.Username, &email, &u.Role, &team, &u.IsActive, &u.PasswordHash, &created, &updated); err != nil {
		return u, err
	}
	u.Email = email.String
	u.TeamID = nullString(team)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

// userZone is the zone a user's changes are scoped to: their team's zone, or "" without a team.
func (tx *tx) userZone(ctx context.Context, u domain.User) (string, error) {
	if u.TeamID == nil || *u.TeamID == "" {
		return "", nil
	}
	var zone string
	err := tx.QueryRowContext(ctx, "SELECT zone FROM teams WHERE id = ? AND deleted_at IS NULL", *u.TeamID).Scan(&zone)
	if errors.Is(err, sql.ErrNoRows) {
		return "", domain.FieldErrorf("team_id", "unknown team %s", *u.TeamID)
	}
	if err != nil {
		return "", fmt.Errorf("user team zone: %w", err)
	}
	return zone, nil
}

// checkUserUnique returns CodeConflict if another user has u's username or email.
func (tx *tx) checkUserUnique(ctx context.Context, u domain.User) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE username = ? AND id <> ?", u.Username, u.ID).Scan(&n); err != nil {
		return fmt.Errorf("check username: %w", err)
	}
	if n > 0 {
		return &domain.Error{Code: domain.CodeConflict, Field: "username", Message: fmt.Sprintf("username %q is taken", u.Username)}
	}
	if u.Email == "" {
		return nil
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE lower(email) = lower(?) AND id <> ?", u.Email, u.ID).Scan(&n); err != nil {
		return fmt.Errorf("check email: %w", err)
	}
	if n > 0 {
		return &domain.Error{Code: domain.CodeConflict, Field: "email", Message: fmt.Sprintf("email %q is taken", u.Email)}
	}
	return nil
}

// CreateUser stores u, filling ID and times if empty. Returns CodeConflict for a taken
// username or email (case-insensitive) and CodeInvalid (field team_id) for an unknown team.
func (s *Store) CreateUser(ctx context.Context, u domain.User) (domain.User, error) {
	if err := u.Validate(); err != nil {
		return domain.User{}, err
	}
	if u.TeamID != nil && *u.TeamID == "" {
		u.TeamID = nil
	}
	err := s.write(ctx, func(tx *tx) error {
		if u.ID == "" {
			u.ID = domain.NewID(tx.now)
		}
		if u.CreatedAt.IsZero() {
			u.CreatedAt = tx.now
		}
		if u.UpdatedAt.IsZero() {
			u.UpdatedAt = u.CreatedAt
		}
		u.CreatedAt, u.UpdatedAt = trunc(u.CreatedAt), trunc(u.UpdatedAt)
		zone, err := tx.userZone(ctx, u)
		if err != nil {
			return err
		}
		if err := tx.checkUserUnique(ctx, u); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			u.ID, u.Username, u.Email, string(u.Role), ptrArg(u.TeamID), u.IsActive, u.PasswordHash,
			micros(u.CreatedAt), micros(u.UpdatedAt)); err != nil {
			if isUnique(err) {
				return domain.Errorf(domain.CodeConflict, "user %s already exists", u.ID)
			}
			return fmt.Errorf("insert user: %w", err)
		}
		patch, err := domain.Diff(nil, u)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityUser, u.ID, domain.OpUpsert, zone, patch)
		return err
	})
	if err != nil {
		return domain.User{}, err
	}
	return u, nil
}

func getUser(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, where string, arg any) (domain.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, domain.Errorf(domain.CodeNotFound, "user %v not found", arg)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// GetUser returns the user with id, CodeNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id string) (domain.User, error) {
	return getUser(ctx, s.reader, "id = ?", id)
}

// GetUserByUsername returns the user with that exact username, CodeNotFound if there is none.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (domain.User, error) {
	return getUser(ctx, s.reader, "username = ?", username)
}

// UpdateUser reads the user, calls fn and stores its result in one transaction. ID and times
// are the store's. An update that changes nothing (password included) writes nothing.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(domain.User) (domain.User, error)) (domain.User, error) {
	var out domain.User
	err := s.write(ctx, func(tx *tx) error {
		old, err := getUser(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			return err
		}
		u.ID, u.CreatedAt, u.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
		if u.TeamID != nil && *u.TeamID == "" {
			u.TeamID = nil
		}
		if err := u.Validate(); err != nil {
			return err
		}
		zone, err := tx.userZone(ctx, u)
		if err != nil {
			return err
		}
		patch, err := domain.Diff(old, u)
		if err != nil {
			return err
		}
		// PasswordHash is not in the JSON (and so not in the patch), but changing it is a write.
		if len(patch) == 0 && u.PasswordHash == old.PasswordHash {
			out = old
			return nil
		}
		if err := tx.checkUserUnique(ctx, u); err != nil {
			return err
		}
		u.UpdatedAt = tx.now
		if patch, err = domain.Diff(old, u); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, email = ?, role = ?, team_id = ?, is_active = ?,
			password_hash = ?, updated_at = ? WHERE id = ?`, u.Username, u.Email, string(u.Role), ptrArg(u.TeamID),
			u.IsActive, u.PasswordHash, micros(u.UpdatedAt), u.ID); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		// A deactivated user's sessions end with the deactivation, not when the tokens expire:
		// reactivating them later must not bring the old refresh tokens back.
		if old.IsActive && !u.IsActive {
			if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", micros(tx.now), u.ID); err != nil {
				return fmt.Errorf("revoke refresh tokens of deactivated user: %w", err)
			}
		}
		if _, err := tx.appendChange(ctx, domain.EntityUser, u.ID, domain.OpUpsert, zone, patch); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return domain.User{}, err
	}
	return out, nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]domain.User, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY username")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []domain.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CreateRefreshToken stores t (CreatedAt filled if zero). Returns CodeInvalid (field user_id)
// for an unknown user and CodeConflict for a repeated hash. Tokens are not in the change log:
// they never leave the hub.
func (s *Store) CreateRefreshToken(ctx context.Context, t domain.RefreshToken) error {
	if strings.TrimSpace(t.Hash) == "" {
		return domain.FieldErrorf("hash", "hash is required")
	}
	return s.write(ctx, func(tx *tx) error {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE id = ?", t.UserID).Scan(&n); err != nil {
			return fmt.Errorf("check user: %w", err)
		}
		if n == 0 {
			return domain.FieldErrorf("user_id", "unknown user %s", t.UserID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens (hash, user_id, expires_at, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
			t.Hash, t.UserID, micros(t.ExpiresAt), micros(t.CreatedAt), microsPtr(t.RevokedAt))
		if isUnique(err) {
			return domain.Errorf(domain.CodeConflict, "refresh token already exists")
		}
		if err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		return nil
	})
}

// GetRefreshToken returns the token with hash, CodeNotFound for an unknown hash. Revoked and
// expired tokens are returned as they are: the caller decides.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (domain.RefreshToken, error) {
	var (
		t                domain.RefreshToken
		expires, created int64
		revoked          sql.NullInt64
	)
	err := s.reader.QueryRowContext(ctx, "SELECT hash, user_id, expires_at, created_at, revoked_at FROM refresh_tokens WHERE hash = ?", hash).
		Scan(&t.Hash, &t.UserID, &expires, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, domain.Errorf(domain.CodeNotFound, "refresh token not found")
	}
	if err != nil {
		return t, fmt.Errorf("get refresh token: %w", err)
	}
	t.ExpiresAt, t.CreatedAt, t.RevokedAt = fromMicros(expires), fromMicros(created), fromNullMicros(revoked)
	return t, nil
}

// RevokeRefreshToken marks the token revoked now. It is idempotent: revoking a revoked or
// unknown token succeeds and keeps the first revocation time.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string) error {
	return s.write(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL", micros(tx.now), hash); err != nil {
			return fmt.Errorf("revoke refresh token: %w", err)
		}
		return nil
	})
}
