package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aiff/aiff/domain"
)

// GetUsersByID returns the users with the given ids, by id, in one query: the sync API's
// login check (POST /api/sync/logins) asks for a batch of them at every edge's interval. The
// ids travel as one JSON array, so a batch needs no statement of its own size. An id with no
// user is absent from the map.
func (s *Store) GetUsersByID(ctx context.Context, ids []string) (map[string]domain.User, error) {
	out := make(map[string]domain.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encode user ids: %w", err)
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE id IN (SELECT value FROM json_each(?))", string(b))
	if err != nil {
		return nil, fmt.Errorf("get users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get users: %w", err)
	}
	return out, nil
}
