package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// t0 is the fixed clock of the domain tests; fixtures derive every time from it so that
// expected values can be written down exactly.
var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func hours(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }

// ticketIn returns a valid ticket in status s whose lifecycle timestamps are consistent with
// how it got there: assigned at t0+1h, started at t0+2h, resolved at t0+3h (rated 4), closed at
// t0+4h. Tickets past open carry team "team-a"; cancelled is cancelled from in_progress.
func ticketIn(s domain.Status) domain.Ticket {
	t := domain.Ticket{
		ID:          "01JP0000000000000000000000",
		Number:      "TKT-000042",
		Title:       "Streetlight out",
		Description: "Lamp 12 on Main St is dark.",
		Category:    "repair",
		Priority:    domain.PriorityHigh,
		Status:      domain.StatusOpen,
		Zone:        "Downtown",
		Location:    "12 Main St",
		Lat:         ptr(52.52),
		Lng:         ptr(13.405),
		Skills:      []string{"electrical"},
		DueDate:     hours(24),
		CreatedAt:   t0,
		UpdatedAt:   t0,
	}
	if s == domain.StatusOpen {
		return t
	}
	t.AssignedTeam, t.AssignedTo, t.AssignedAt = ptr("team-a"), ptr("alice"), ptr(hours(1))
	t.Status, t.UpdatedAt = domain.StatusAssigned, hours(1)
	if s == domain.StatusAssigned {
		return t
	}
	t.StartedAt = ptr(hours(2))
	t.Status, t.UpdatedAt = domain.StatusInProgress, hours(2)
	switch s {
	case domain.StatusInProgress:
		return t
	case domain.StatusOnHold, domain.StatusCancelled:
		t.Status, t.UpdatedAt = s, hours(3)
		return t
	}
	t.ResolvedAt, t.CustomerRating = ptr(hours(3)), ptr(4)
	t.Status, t.UpdatedAt = domain.StatusResolved, hours(3)
	if s == domain.StatusResolved {
		return t
	}
	t.ClosedAt = ptr(hours(4))
	t.Status, t.UpdatedAt = domain.StatusClosed, hours(4)
	return t
}

// checkErr fails t unless err matches the expectation: no error when wantCode is "", else an
// error with that code and field.
func checkErr(t *testing.T, err error, wantCode domain.Code, wantField string) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("err = nil, want code %q field %q", wantCode, wantField)
	}
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *domain.Error", err, err)
	}
	if got := domain.ErrorCode(err); got != wantCode {
		t.Errorf("ErrorCode = %q, want %q (err %v)", got, wantCode, err)
	}
	if got := domain.ErrorField(err); got != wantField {
		t.Errorf("ErrorField = %q, want %q (err %v)", got, wantField, err)
	}
	if msg := domain.ErrorMessage(err); msg == "" || msg != strings.ToLower(msg[:1])+msg[1:] {
		t.Errorf("ErrorMessage = %q, want a non-empty lowercase message", msg)
	}
}
