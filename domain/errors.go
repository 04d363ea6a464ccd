// Package domain holds AIFF's types, rules and errors: tickets, teams, users, zones, assignments
// and the change records that sync carries. It does no I/O, so every rule is a pure function that
// is cheap to table-test, and every adapter (SQLite, Postgres, HTTP) speaks in these types.
package domain

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers. Each code maps to one HTTP status and one stable
// problem+json type in hub/http; anything that is not a *Error is CodeInternal.
type Code string

const (
	CodeInvalid         Code = "invalid"           // bad input: the request can never succeed as sent
	CodeNotFound        Code = "not_found"         // the entity does not exist (or is not visible to the caller)
	CodeConflict        Code = "conflict"          // the request clashes with current state (duplicate, illegal transition)
	CodeUnauthorized    Code = "unauthorized"      // no valid credential
	CodeForbidden       Code = "forbidden"         // valid credential, not allowed
	CodeTooManyRequests Code = "too_many_requests" // throttled; retry later
	CodeTooLarge        Code = "too_large"         // body or batch over the limit
	CodeUnavailable     Code = "unavailable"       // a dependency is down; retryable
	CodeInternal        Code = "internal"          // a bug or an unexpected failure; text is never shown to clients
)

// Error is AIFF's application error. Message is safe to show to the caller; Field names the
// offending input field when there is one.
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error // optional typed cause, e.g. *TransitionError
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted, lowercase, user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf is Errorf with CodeInvalid and the name of the offending field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the user-safe message of err, or a generic text for internal errors so
// that no driver detail or stack trace reaches a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the offending field of err, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
