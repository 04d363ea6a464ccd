package domain_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aiff/aiff/domain"
)

func TestErrorAccessors(t *testing.T) {
	transition := &domain.TransitionError{From: domain.StatusClosed, To: domain.StatusOpen}
	tests := []struct {
		name      string
		err       error
		wantCode  domain.Code
		wantMsg   string
		wantField string
	}{
		{
			name:     "plain domain error",
			err:      domain.Errorf(domain.CodeNotFound, "ticket %s not found", "TKT-000001"),
			wantCode: domain.CodeNotFound, wantMsg: "ticket TKT-000001 not found",
		},
		{
			name:     "field error",
			err:      domain.FieldErrorf("title", "title is required"),
			wantCode: domain.CodeInvalid, wantMsg: "title is required", wantField: "title",
		},
		{
			name:     "wrapped once",
			err:      fmt.Errorf("update ticket %s: %w", "x", domain.FieldErrorf("zone", "unknown zone %q", "Atlantis")),
			wantCode: domain.CodeInvalid, wantMsg: `unknown zone "Atlantis"`, wantField: "zone",
		},
		{
			name:     "wrapped twice",
			err:      fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", domain.Errorf(domain.CodeConflict, "username taken"))),
			wantCode: domain.CodeConflict, wantMsg: "username taken",
		},
		{
			name:     "joined with a plain error",
			err:      errors.Join(errors.New("driver: duplicate key"), domain.Errorf(domain.CodeUnavailable, "database is down")),
			wantCode: domain.CodeUnavailable, wantMsg: "database is down",
		},
		{
			name:     "domain error with a typed cause",
			err:      &domain.Error{Code: domain.CodeConflict, Field: "status", Message: transition.Error(), Err: transition},
			wantCode: domain.CodeConflict, wantMsg: "status open cannot follow closed", wantField: "status",
		},
		{
			name:     "plain error",
			err:      errors.New(`pq: relation "tickets" does not exist`),
			wantCode: domain.CodeInternal, wantMsg: "internal error",
		},
		{
			name:     "wrapped plain error",
			err:      fmt.Errorf("list tickets: %w", context.DeadlineExceeded),
			wantCode: domain.CodeInternal, wantMsg: "internal error",
		},
		{
			name:     "bare transition error is not a domain error",
			err:      transition,
			wantCode: domain.CodeInternal, wantMsg: "internal error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
			if got := domain.ErrorMessage(tt.err); got != tt.wantMsg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.wantMsg)
			}
			if got := domain.ErrorField(tt.err); got != tt.wantField {
				t.Errorf("ErrorField = %q, want %q", got, tt.wantField)
			}
		})
	}
}

func TestErrorNil(t *testing.T) {
	if got := domain.ErrorCode(nil); got != "" {
		t.Errorf("ErrorCode(nil) = %q, want empty", got)
	}
	if got := domain.ErrorField(nil); got != "" {
		t.Errorf("ErrorField(nil) = %q, want empty", got)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *domain.Error
		want string
	}{
		{domain.Errorf(domain.CodeNotFound, "no such ticket"), "not_found: no such ticket"},
		{domain.FieldErrorf("lat", "lat must be between %d and %d", -90, 90), "invalid: lat must be between -90 and 90 (field lat)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := context.Canceled
	err := fmt.Errorf("ctx: %w", &domain.Error{Code: domain.CodeUnavailable, Message: "request cancelled", Err: cause})
	if !errors.Is(err, context.Canceled) {
		t.Error("errors.Is(err, context.Canceled) = false through *domain.Error")
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeUnavailable {
		t.Errorf("errors.As *domain.Error = %v, %+v", errors.As(err, &de), de)
	}
	if (&domain.Error{}).Unwrap() != nil {
		t.Error("Unwrap of an error without a cause is not nil")
	}
}
