package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiff/aiff/domain"
)

// constraintErrors names, for each constraint the schema declares, the input field it guards and
// a message safe to show to a client. The driver's own text never reaches a *domain.Error.
var constraintErrors = map[string]struct{ field, msg string }{
	"zones_pkey":                  {"id", "zone id is taken"},
	"zones_name_key":              {"name", "zone name is taken"},
	"teams_pkey":                  {"id", "team id is taken"},
	"teams_zone_fkey":             {"zone", "unknown zone"},
	"users_pkey":                  {"id", "user id is taken"},
	"users_username_key":          {"username", "username is taken"},
	"idx_users_email":             {"email", "email is taken"},
	"users_team_id_fkey":          {"team_id", "unknown team"},
	"refresh_tokens_pkey":         {"hash", "refresh token exists"},
	"refresh_tokens_user_id_fkey": {"user_id", "unknown user"},
	"tickets_pkey":                {"id", "ticket id is taken"},
	"tickets_number_key":          {"ticket_number", "ticket number is taken"},
	"tickets_zone_fkey":           {"zone", "unknown zone"},
	"tickets_assigned_team_fkey":  {"assigned_team", "unknown team"},
	"assignments_ticket_id_fkey":  {"ticket_id", "unknown ticket"},
	"assignments_team_id_fkey":    {"team_id", "unknown team"},
	"changes_id_key":              {"id", "change id is taken"},
}

// translate maps driver errors to domain errors: unique violation → CodeConflict, foreign-key
// violation → CodeInvalid naming the field, no rows → CodeNotFound, a dead server →
// CodeUnavailable. Domain errors and context errors pass through; anything else is wrapped as
// it is and so reads as CodeInternal.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &domain.Error{Code: domain.CodeNotFound, Message: "not found", Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c, known := constraintErrors[pe.ConstraintName]
		switch pe.Code {
		case "23505": // unique_violation
			if !known {
				c.msg = "already exists"
			}
			return &domain.Error{Code: domain.CodeConflict, Field: c.field, Message: c.msg, Err: err}
		case "23503": // foreign_key_violation
			if !known {
				c.msg = "unknown reference"
			}
			return &domain.Error{Code: domain.CodeInvalid, Field: c.field, Message: c.msg, Err: err}
		case "23502", "23514", "22001", "22003": // not null, check, too long, out of range
			return &domain.Error{Code: domain.CodeInvalid, Field: pe.ColumnName, Message: "invalid value", Err: err}
		case "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004":
			return &domain.Error{Code: domain.CodeUnavailable, Message: "database unavailable", Err: err}
		}
		return fmt.Errorf("postgres: %w", err)
	}
	if pgconn.SafeToRetry(err) || isConnErr(err) {
		return &domain.Error{Code: domain.CodeUnavailable, Message: "database unavailable", Err: err}
	}
	return err
}

// isConnErr reports whether err came from a broken or unreachable connection rather than from
// a statement.
func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// constraintName returns the violated constraint of a Postgres error, or "".
func constraintName(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}
