package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

const userCols = "id, username, email, role, team_id, is_active, password_hash, created_at, updated_at"

func scanUser(row pgx.Row) (domain.User, error) {
	var (
		u     domain.User
		email *string
	)
	if err := row.Scan(&u.ID, &u.Username, &email, &u.Role, &u.TeamID, &u.IsActive, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return u, err
	}
	if email != nil {
		u.Email = *email
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// userZone is the zone a user's changes are scoped to: their team's zone, or "" without a team.
func (tx *tx) userZone(ctx context.Context, u domain.User) (string, error) {
	if u.TeamID == nil || *u.TeamID == "" {
		return "", nil
	}
	var zone string
	err := tx.QueryRow(ctx, "SELECT zone FROM teams WHERE id = $1 AND deleted_at IS NULL FOR SHARE", *u.TeamID).Scan(&zone)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domain.FieldErrorf("team_id", "unknown team %s", *u.TeamID)
	}
	if err != nil {
		return "", fmt.Errorf("user team zone: %w", err)
	}
	return zone, nil
}

// checkUserUnique returns CodeConflict if another user has u's username or email. The unique
// indexes stay the final word for two transactions racing past this check.
func (tx *tx) checkUserUnique(ctx context.Context, u domain.User) error {
	var taken bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE username = $1 AND id <> $2)", u.Username, u.ID).Scan(&taken); err != nil {
		return fmt.Errorf("check username: %w", err)
	}
	if taken {
		return &domain.Error{Code: domain.CodeConflict, Field: "username", Message: fmt.Sprintf("username %q is taken", u.Username)}
	}
	if u.Email == "" {
		return nil
	}
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND email <> '' AND id <> $2)", u.Email, u.ID).Scan(&taken); err != nil {
		return fmt.Errorf("check email: %w", err)
	}
	if taken {
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
	var out domain.User
	err := s.write(ctx, func(tx *tx) error {
		u := u
		if u.ID == "" {
			u.ID = domain.NewID(tx.now)
		}
		if u.CreatedAt.IsZero() {
			u.CreatedAt = tx.now
		}
		if u.UpdatedAt.IsZero() {
			u.UpdatedAt = u.CreatedAt
		}
		u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
		zone, err := tx.userZone(ctx, u)
		if err != nil {
			return err
		}
		if err := tx.checkUserUnique(ctx, u); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			u.ID, u.Username, u.Email, string(u.Role), u.TeamID, u.IsActive, u.PasswordHash,
			u.CreatedAt, u.UpdatedAt); err != nil {
			return userWriteError(err, u)
		}
		patch, err := domain.Diff(nil, u)
		if err != nil {
			return err
		}
		if _, err = tx.appendChange(ctx, domain.EntityUser, u.ID, domain.OpUpsert, zone, patch); err != nil {
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

// userWriteError turns a unique violation that raced past checkUserUnique into the same error
// the check gives.
func userWriteError(err error, u domain.User) error {
	if !isUnique(err) {
		return fmt.Errorf("write user: %w", err)
	}
	switch constraintName(err) {
	case "users_username_key":
		return &domain.Error{Code: domain.CodeConflict, Field: "username", Message: fmt.Sprintf("username %q is taken", u.Username)}
	case "idx_users_email":
		return &domain.Error{Code: domain.CodeConflict, Field: "email", Message: fmt.Sprintf("email %q is taken", u.Email)}
	}
	return domain.Errorf(domain.CodeConflict, "user %s already exists", u.ID)
}

func getUser(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, where string, arg any) (domain.User, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, domain.Errorf(domain.CodeNotFound, "user %v not found", arg)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// GetUser returns the user with id, CodeNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id string) (domain.User, error) {
	u, err := getUser(ctx, s.pool, "id = $1", id)
	return u, translate(err)
}

// GetUserByUsername returns the user with that exact username, CodeNotFound if there is none.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (domain.User, error) {
	u, err := getUser(ctx, s.pool, "username = $1", username)
	return u, translate(err)
}

// UpdateUser reads the user, calls fn and stores its result in one transaction. ID and times
// are the store's. An update that changes nothing (password included) writes nothing.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(domain.User) (domain.User, error)) (domain.User, error) {
	var out domain.User
	err := s.write(ctx, func(tx *tx) error {
		old, err := getUser(ctx, tx, "id = $1 FOR UPDATE", id)
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
		if _, err := tx.Exec(ctx, `UPDATE users SET username = $1, email = $2, role = $3, team_id = $4, is_active = $5,
			password_hash = $6, updated_at = $7 WHERE id = $8`, u.Username, u.Email, string(u.Role), u.TeamID,
			u.IsActive, u.PasswordHash, u.UpdatedAt, u.ID); err != nil {
			return userWriteError(err, u)
		}
		// A deactivated user's sessions end with the deactivation, not when the tokens expire:
		// reactivating them later must not bring the old refresh tokens back.
		if old.IsActive && !u.IsActive {
			if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL", tx.now, u.ID); err != nil {
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
	rows, err := s.pool.Query(ctx, "SELECT "+userCols+" FROM users ORDER BY username")
	if err != nil {
		return nil, translate(fmt.Errorf("list users: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.User, error) { return scanUser(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("list users: %w", err))
	}
	return out, nil
}

// CreateRefreshToken stores t (CreatedAt filled if zero). Returns CodeInvalid (field user_id)
// for an unknown user and CodeConflict for a repeated hash. Tokens are not in the change log:
// they never leave the hub.
func (s *Store) CreateRefreshToken(ctx context.Context, t domain.RefreshToken) error {
	if strings.TrimSpace(t.Hash) == "" {
		return domain.FieldErrorf("hash", "hash is required")
	}
	return s.write(ctx, func(tx *tx) error {
		t := t
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", t.UserID).Scan(&ok); err != nil {
			return fmt.Errorf("check user: %w", err)
		}
		if !ok {
			return domain.FieldErrorf("user_id", "unknown user %s", t.UserID)
		}
		_, err := tx.Exec(ctx, "INSERT INTO refresh_tokens (hash, user_id, expires_at, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
			t.Hash, t.UserID, utc(t.ExpiresAt), utc(t.CreatedAt), utcPtr(t.RevokedAt))
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
	var t domain.RefreshToken
	err := s.pool.QueryRow(ctx, "SELECT hash, user_id, expires_at, created_at, revoked_at FROM refresh_tokens WHERE hash = $1", hash).
		Scan(&t.Hash, &t.UserID, &t.ExpiresAt, &t.CreatedAt, &t.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, domain.Errorf(domain.CodeNotFound, "refresh token not found")
	}
	if err != nil {
		return t, translate(fmt.Errorf("get refresh token: %w", err))
	}
	t.ExpiresAt, t.CreatedAt, t.RevokedAt = t.ExpiresAt.UTC(), t.CreatedAt.UTC(), utcPtr(t.RevokedAt)
	return t, nil
}

// RevokeRefreshToken marks the token revoked now. It is idempotent: revoking a revoked or
// unknown token succeeds and keeps the first revocation time.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string) error {
	return s.write(ctx, func(tx *tx) error {
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL", tx.now, hash); err != nil {
			return fmt.Errorf("revoke refresh token: %w", err)
		}
		return nil
	})
}
