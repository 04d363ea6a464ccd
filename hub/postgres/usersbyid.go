package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

// GetUsersByID returns the users with the given ids, by id, in one query: the sync API's
// login check (POST /api/sync/logins) asks for a batch of them at every edge's interval. An
// id with no user is absent from the map.
func (s *Store) GetUsersByID(ctx context.Context, ids []string) (map[string]domain.User, error) {
	out := make(map[string]domain.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT "+userCols+" FROM users WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, translate(fmt.Errorf("get users: %w", err))
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.User, error) { return scanUser(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("get users: %w", err))
	}
	for _, u := range users {
		out[u.ID] = u
	}
	return out, nil
}
