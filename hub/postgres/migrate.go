package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/migrations"
)

// migrateLockKey is the advisory lock taken while migrating. It hashes the schema name in with a
// fixed prefix, so that replicas of one hub serialize while separate schemas (one per test)
// migrate in parallel.
const migrateLockKey = `hashtextextended('aiff.migrate.' || coalesce(current_schema(), ''), 0)`

// migrate applies every migration newer than the schema's recorded versions, each in its own
// transaction together with its row in schema_migrations. A session-level advisory lock, held
// on one dedicated connection for the whole run, makes a second replica wait and then find
// nothing left to do. The lock goes with the session if the process dies.
func (s *Store) migrate(ctx context.Context) error {
	list, err := migrations.List(migrations.Postgres)
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrateLockKey+`)`); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		// Unlock with a fresh context: ctx may be done, and a lock left on a pooled connection
		// would block every later migration until that connection closed.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+migrateLockKey+`)`); err != nil {
			conn.Conn().Close(uctx) // closing the session releases the lock
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: read versions: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("migrate: read versions: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range list {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		s.Logger.Info("applied migration", "version", m.Version, "name", m.Name, "took", time.Since(start))
	}
	return nil
}
