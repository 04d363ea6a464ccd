package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aiff/aiff/domain"
)

// CreateZone stores z, filling ID and CreatedAt if empty. Returns CodeInvalid for a bad zone
// and CodeConflict when the name or ID is taken.
func (s *Store) CreateZone(ctx context.Context, z domain.Zone) (domain.Zone, error) {
	if z.Boundary == nil {
		z.Boundary = []domain.Point{}
	}
	if err := z.Validate(); err != nil {
		return domain.Zone{}, err
	}
	err := s.write(ctx, func(tx *tx) error {
		if z.ID == "" {
			z.ID = domain.NewID(tx.now)
		}
		if z.CreatedAt.IsZero() {
			z.CreatedAt = tx.now
		}
		z.CreatedAt = trunc(z.CreatedAt)
		b, err := json.Marshal(z.Boundary)
		if err != nil {
			return fmt.Errorf("encode boundary: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO zones (id, name, region, boundary, center_lat, center_lng, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, z.ID, z.Name, z.Region, string(b), z.Center.Lat, z.Center.Lng, micros(z.CreatedAt)); err != nil {
			if isUnique(err) {
				return domain.Errorf(domain.CodeConflict, "zone %q already exists", z.Name)
			}
			return fmt.Errorf("insert zone: %w", err)
		}
		patch, err := domain.Diff(nil, z)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityZone, z.ID, domain.OpUpsert, z.Name, patch)
		return err
	})
	if err != nil {
		return domain.Zone{}, err
	}
	return z, nil
}

const zoneCols = "id, name, region, boundary, center_lat, center_lng, created_at"

func scanZone(row interface{ Scan(...any) error }) (domain.Zone, error) {
	var (
		z        domain.Zone
		boundary string
		created  int64
	)
	if err := row.Scan(&z.ID, &z.Name, &z.Region, &boundary, &z.Center.Lat, &z.Center.Lng, &created); err != nil {
		return z, err
	}
	if err := json.Unmarshal([]byte(boundary), &z.Boundary); err != nil {
		return z, fmt.Errorf("decode boundary of zone %s: %w", z.ID, err)
	}
	if z.Boundary == nil {
		z.Boundary = []domain.Point{}
	}
	z.CreatedAt = fromMicros(created)
	return z, nil
}

// GetZone returns the zone named name, CodeNotFound if there is none.
func (s *Store) GetZone(ctx context.Context, name string) (domain.Zone, error) {
	z, err := scanZone(s.reader.QueryRowContext(ctx, "SELECT "+zoneCols+" FROM zones WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Zone{}, domain.Errorf(domain.CodeNotFound, "zone %q not found", name)
	}
	if err != nil {
		return domain.Zone{}, fmt.Errorf("get zone: %w", err)
	}
	return z, nil
}

// ListZones returns every zone ordered by name.
func (s *Store) ListZones(ctx context.Context) ([]domain.Zone, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+zoneCols+" FROM zones ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list zones: %w", err)
	}
	defer rows.Close()
	out := []domain.Zone{}
	for rows.Next() {
		z, err := scanZone(rows)
		if err != nil {
			return nil, fmt.Errorf("scan zone: %w", err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

// zoneExists reports whether a zone named name exists, inside tx.
func (tx *tx) zoneExists(ctx context.Context, name string) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM zones WHERE name = ?", name).Scan(&n); err != nil {
		return false, fmt.Errorf("check zone: %w", err)
	}
	return n > 0, nil
}
