package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aiff/aiff/domain"
)

// Revoked logins (sync/PROTOCOL.md §10): users who logged in through this edge but are not
// replicated here (no team in its zones) never have their deactivation sync in, so the edge
// asks the hub about them (POST /api/sync/logins) and records those the hub says may no
// longer log in. The record outlives a restart, so their edge tokens stay refused for as
// long as they would have lasted, until the user logs in through the hub again.

// loginsSchema is applied with the main schema at every Open.
const loginsSchema = `
-- Users the hub said may no longer log in (deactivated, or gone), whose cached login this
-- edge deleted and whose edge tokens it refuses until they log in through the hub again.
CREATE TABLE IF NOT EXISTS revoked_logins (
	user_id  TEXT PRIMARY KEY,
	username TEXT NOT NULL,
	reason   TEXT NOT NULL,
	at       INTEGER NOT NULL
);
`

// UnreplicatedLogins returns the users (as cached at their last hub login) that this edge
// holds a cached login for but no live replicated row of: the ones whose deactivation only
// the hub can tell, ordered by id.
func (s *Store) UnreplicatedLogins(ctx context.Context) ([]Credential, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT c.doc, c.updated_at FROM credentials c
		WHERE NOT EXISTS (SELECT 1 FROM rows r WHERE r.entity = 'user' AND r.id = c.user_id AND r.deleted = 0)
		ORDER BY c.user_id`)
	if err != nil {
		return nil, fmt.Errorf("list unreplicated logins: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		var (
			c  Credential
			b  string
			at int64
		)
		if err := rows.Scan(&b, &at); err != nil {
			return nil, fmt.Errorf("scan login: %w", err)
		}
		if err := json.Unmarshal([]byte(b), &c.User); err != nil {
			return nil, fmt.Errorf("decode login: %w", err)
		}
		c.UpdatedAt = fromMicros(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unreplicated logins: %w", err)
	}
	return out, nil
}

// RevokeLogin deletes the cached login of the user with userID and records that their edge
// tokens are refused (LoginRevoked), with the hub's reason, in one commit. asked is when the
// hub was asked: a login cached through the hub after it (the user was reactivated and
// logged in again meanwhile) is newer than the answer, and nothing happens; RevokeLogin
// then reports false.
func (s *Store) RevokeLogin(ctx context.Context, userID, username, reason string, asked time.Time) (bool, error) {
	done := false
	err := s.write(ctx, func(t *tx) error {
		var at int64
		err := t.QueryRowContext(ctx, "SELECT updated_at FROM credentials WHERE user_id = ?", userID).Scan(&at)
		switch {
		case err == nil && at > micros(asked):
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read login of user %s: %w", userID, err)
		}
		if err := t.deleteCredential(ctx, userID); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `INSERT INTO revoked_logins (user_id, username, reason, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, reason = excluded.reason, at = excluded.at`,
			userID, username, reason, micros(t.now)); err != nil {
			return fmt.Errorf("revoke login of user %s: %w", userID, err)
		}
		done = true
		return nil
	})
	return done, err
}

// LoginRevoked returns the hub's reason if RevokeLogin recorded the user with userID and they
// have not logged in through the hub since ("" and false otherwise).
func (s *Store) LoginRevoked(ctx context.Context, userID string) (string, bool, error) {
	var reason string
	err := s.reader.QueryRowContext(ctx, "SELECT reason FROM revoked_logins WHERE user_id = ?", userID).Scan(&reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read revoked login of user %s: %w", userID, err)
	}
	return reason, true, nil
}

// ClearRevokedLogin forgets a revocation once the hub has vouched for the user again (a
// successful login through it). Without a record it writes nothing, so an ordinary login
// costs no write transaction.
func (s *Store) ClearRevokedLogin(ctx context.Context, userID string) error {
	if _, revoked, err := s.LoginRevoked(ctx, userID); err != nil || !revoked {
		return err
	}
	return s.write(ctx, func(t *tx) error {
		if _, err := t.ExecContext(ctx, "DELETE FROM revoked_logins WHERE user_id = ?", userID); err != nil {
			return fmt.Errorf("clear revoked login of user %s: %w", userID, err)
		}
		return nil
	})
}

// RefreshLogin updates the role and team of the cached login of u.ID to the hub's, so that
// an offline login gets a token with the role the hub gives the user now. The password hash
// is kept. No cached login: nothing happens.
func (s *Store) RefreshLogin(ctx context.Context, u domain.User) error {
	return s.write(ctx, func(t *tx) error {
		var b string
		err := t.QueryRowContext(ctx, "SELECT doc FROM credentials WHERE user_id = ?", u.ID).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read login of user %s: %w", u.ID, err)
		}
		var cached domain.User
		if err := json.Unmarshal([]byte(b), &cached); err != nil {
			return fmt.Errorf("decode login: %w", err)
		}
		cached.Role, cached.TeamID = u.Role, u.TeamID
		nb, err := json.Marshal(cached)
		if err != nil {
			return fmt.Errorf("encode login: %w", err)
		}
		if _, err := t.ExecContext(ctx, "UPDATE credentials SET doc = ? WHERE user_id = ?", string(nb), u.ID); err != nil {
			return fmt.Errorf("refresh login of user %s: %w", u.ID, err)
		}
		return nil
	})
}

// PruneRevokedLogins forgets revocations recorded before before: once every token issued
// before a revocation has expired, the record refuses nothing (a revoked user can only get a
// new token by logging in through the hub, which clears it anyway).
// It writes only when there is something to forget: the login check calls it every time.
func (s *Store) PruneRevokedLogins(ctx context.Context, before time.Time) error {
	var stale bool
	if err := s.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_logins WHERE at < ?)", micros(before)).Scan(&stale); err != nil {
		return fmt.Errorf("read revoked logins: %w", err)
	}
	if !stale {
		return nil
	}
	return s.write(ctx, func(t *tx) error {
		if _, err := t.ExecContext(ctx, "DELETE FROM revoked_logins WHERE at < ?", micros(before)); err != nil {
			return fmt.Errorf("prune revoked logins: %w", err)
		}
		return nil
	})
}
