package sqlite

import (
	"context"
	"fmt"

	"github.com/aiff/aiff/domain"
)

// GetUser returns the replicated user with id, or CodeNotFound when this edge does not hold
// them (users of teams outside its zones, and users without a team, are not replicated).
func (s *Store) GetUser(ctx context.Context, id string) (domain.User, error) {
	return s.replicatedUser(ctx, "id = ?", id, domain.Errorf(domain.CodeNotFound, "user %s not found", id))
}

// DeleteCredential forgets the cached login of the user with userID, if any.
func (s *Store) DeleteCredential(ctx context.Context, userID string) error {
	return s.write(ctx, func(t *tx) error { return t.deleteCredential(ctx, userID) })
}

func (t *tx) deleteCredential(ctx context.Context, userID string) error {
	if _, err := t.ExecContext(ctx, "DELETE FROM credentials WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("delete login of user %s: %w", userID, err)
	}
	return nil
}

// purgeInactiveLogins deletes the cached logins of the users this transaction wrote as
// inactive, in the same commit: once a deactivation reaches the edge, by whichever path (live
// sync, a scope change, a snapshot), nothing that would let the user log in offline stays on
// the device.
func (t *tx) purgeInactiveLogins(ctx context.Context) error {
	for _, k := range t.order {
		if k.entity != domain.EntityUser || !t.dirty[k] {
			continue
		}
		r := t.rows[k]
		if len(r.Changes) == 0 {
			continue
		}
		var u struct {
			IsActive *bool `json:"is_active"`
		}
		if err := decodeRow(r, &u); err != nil {
			return err
		}
		if u.IsActive != nil && !*u.IsActive {
			if err := t.deleteCredential(ctx, k.id); err != nil {
				return err
			}
		}
	}
	return nil
}
