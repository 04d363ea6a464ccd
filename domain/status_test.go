package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiff/aiff/domain"
)

// transitionMatrix is the ticket state machine written out in full. Rows are the current
// status, columns the requested one, both in domain.Statuses order (open, assigned,
// in_progress, on_hold, resolved, closed, cancelled): 'o' allowed, '.' refused, '=' same status
// (a no-op).
var transitionMatrix = map[domain.Status]string{
	domain.StatusOpen:       "=o....o",
	domain.StatusAssigned:   "o=o...o",
	domain.StatusInProgress: "..=oo.o",
	domain.StatusOnHold:     "..o=..o",
	domain.StatusResolved:   "oo..=o.",
	domain.StatusClosed:     ".....=.",
	domain.StatusCancelled:  "......=",
}

func TestStatusesOrder(t *testing.T) {
	want := []domain.Status{"open", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"}
	if diff := cmp.Diff(want, domain.Statuses); diff != "" {
		t.Errorf("Statuses mismatch (-want +got):\n%s", diff)
	}
}

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		s                    domain.Status
		valid, done, isFinal bool
	}{
		{domain.StatusOpen, true, false, false},
		{domain.StatusAssigned, true, false, false},
		{domain.StatusInProgress, true, false, false},
		{domain.StatusOnHold, true, false, false},
		{domain.StatusResolved, true, true, false},
		{domain.StatusClosed, true, true, true},
		{domain.StatusCancelled, true, true, true},
		{"", false, false, false},
		{"OPEN", false, false, false},
		{"done", false, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if got := tt.s.Valid(); got != tt.valid {
				t.Errorf("Valid() = %v, want %v", got, tt.valid)
			}
			if got := tt.s.Done(); got != tt.done {
				t.Errorf("Done() = %v, want %v", got, tt.done)
			}
			if got := tt.s.Final(); got != tt.isFinal {
				t.Errorf("Final() = %v, want %v", got, tt.isFinal)
			}
		})
	}
}

func TestCanTransitionMatrix(t *testing.T) {
	if len(transitionMatrix) != len(domain.Statuses) {
		t.Fatalf("matrix has %d rows, want %d", len(transitionMatrix), len(domain.Statuses))
	}
	for _, from := range domain.Statuses {
		row := transitionMatrix[from]
		var wantNext []domain.Status
		for i, to := range domain.Statuses {
			want := row[i] == 'o'
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s.CanTransition(%s) = %v, want %v", from, to, got, want)
			}
			if want {
				wantNext = append(wantNext, to)
			}
		}
		got := from.Next()
		slices.Sort(got)
		slices.Sort(wantNext)
		if diff := cmp.Diff(wantNext, got); diff != "" {
			t.Errorf("%s.Next() mismatch (-want +got):\n%s", from, diff)
		}
	}
	if domain.Status("bogus").CanTransition(domain.StatusOpen) {
		t.Error(`"bogus".CanTransition(open) = true, want false`)
	}
}

func TestNextReturnsCopy(t *testing.T) {
	next := domain.StatusOpen.Next()
	next[0] = domain.StatusClosed
	if domain.StatusOpen.CanTransition(domain.StatusClosed) {
		t.Fatal("mutating Next() changed the state machine")
	}
}

// TestTransitionMatrix drives Ticket.Transition through all 49 (from, to) pairs: allowed moves
// land in the target status, refused ones are CodeConflict wrapping a *TransitionError that
// names both states, and the same status is a no-op.
func TestTransitionMatrix(t *testing.T) {
	at := hours(10)
	for _, from := range domain.Statuses {
		for i, to := range domain.Statuses {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				in := ticketIn(from)
				if from == domain.StatusOpen && to == domain.StatusAssigned {
					// Transition needs the team already set (Assign is the usual way);
					// the team-less case is in TestTransitionTimestamps.
					in.AssignedTeam = ptr("team-a")
				}
				got, err := in.Transition(to, at)
				switch transitionMatrix[from][i] {
				case '=':
					if err != nil {
						t.Fatalf("same status: err = %v, want nil", err)
					}
					if diff := cmp.Diff(in, got); diff != "" {
						t.Errorf("same status changed the ticket (-want +got):\n%s", diff)
					}
				case 'o':
					if err != nil {
						t.Fatalf("err = %v, want nil", err)
					}
					if got.Status != to {
						t.Errorf("Status = %q, want %q", got.Status, to)
					}
					if !got.UpdatedAt.Equal(at) {
						t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, at)
					}
					if err := got.Validate(); err != nil {
						t.Errorf("result does not validate: %v", err)
					}
				case '.':
					checkErr(t, err, domain.CodeConflict, "status")
					var te *domain.TransitionError
					if !errors.As(err, &te) {
						t.Fatalf("errors.As(%v, *TransitionError) = false", err)
					}
					if diff := cmp.Diff(domain.TransitionError{From: from, To: to}, *te); diff != "" {
						t.Errorf("TransitionError mismatch (-want +got):\n%s", diff)
					}
					msg := domain.ErrorMessage(err)
					if !strings.Contains(msg, string(from)) || !strings.Contains(msg, string(to)) {
						t.Errorf("message %q does not name both %q and %q", msg, from, to)
					}
					if diff := cmp.Diff(in, got); diff != "" {
						t.Errorf("refused transition changed the ticket (-want +got):\n%s", diff)
					}
				default:
					t.Fatalf("bad matrix entry %q", transitionMatrix[from][i])
				}
			})
		}
	}
}

func TestTransitionUnknownStatus(t *testing.T) {
	in := ticketIn(domain.StatusOpen)
	got, err := in.Transition("done", hours(1))
	checkErr(t, err, domain.CodeInvalid, "status")
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("ticket changed (-want +got):\n%s", diff)
	}
}

// TestTransitionTimestamps checks the whole ticket after each lifecycle move, so that a
// timestamp set or cleared by mistake shows up as a diff.
func TestTransitionTimestamps(t *testing.T) {
	at := hours(10)
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name     string
		in       domain.Ticket
		to       domain.Status
		at       time.Time
		want     func(*domain.Ticket)
		wantCode domain.Code
		field    string
	}{
		{
			name: "start sets started_at",
			in:   ticketIn(domain.StatusAssigned),
			to:   domain.StatusInProgress,
			want: func(w *domain.Ticket) { w.StartedAt = ptr(at) },
		},
		{
			name: "resume keeps first started_at",
			in:   ticketIn(domain.StatusOnHold),
			to:   domain.StatusInProgress,
			want: func(w *domain.Ticket) {}, // StartedAt stays t0+2h
		},
		{
			name: "hold keeps started_at",
			in:   ticketIn(domain.StatusInProgress),
			to:   domain.StatusOnHold,
			want: func(w *domain.Ticket) {},
		},
		{
			name: "resolve sets resolved_at",
			in:   ticketIn(domain.StatusInProgress),
			to:   domain.StatusResolved,
			want: func(w *domain.Ticket) { w.ResolvedAt = ptr(at) },
		},
		{
			name: "close sets closed_at and keeps resolution and rating",
			in:   ticketIn(domain.StatusResolved),
			to:   domain.StatusClosed,
			want: func(w *domain.Ticket) { w.ClosedAt = ptr(at) },
		},
		{
			name: "cancel keeps assignment",
			in:   ticketIn(domain.StatusAssigned),
			to:   domain.StatusCancelled,
			want: func(w *domain.Ticket) {},
		},
		{
			name: "reopen to assigned clears resolved_at and rating, keeps team and started_at",
			in:   ticketIn(domain.StatusResolved),
			to:   domain.StatusAssigned,
			want: func(w *domain.Ticket) { w.ResolvedAt, w.CustomerRating = nil, nil },
		},
		{
			name: "reopen to assigned without a team lands in open",
			in: func() domain.Ticket {
				t := ticketIn(domain.StatusResolved)
				t.AssignedTeam, t.AssignedTo, t.AssignedAt = nil, nil, nil
				return t
			}(),
			to: domain.StatusAssigned,
			want: func(w *domain.Ticket) {
				w.Status = domain.StatusOpen
				w.ResolvedAt, w.CustomerRating = nil, nil
			},
		},
		{
			name: "reopen to open clears resolution and assignment",
			in:   ticketIn(domain.StatusResolved),
			to:   domain.StatusOpen,
			want: func(w *domain.Ticket) {
				w.ResolvedAt, w.CustomerRating = nil, nil
				w.AssignedTeam, w.AssignedTo, w.AssignedAt = nil, nil, nil
			},
		},
		{
			name: "unassign clears team, person and assigned_at",
			in:   ticketIn(domain.StatusAssigned),
			to:   domain.StatusOpen,
			want: func(w *domain.Ticket) { w.AssignedTeam, w.AssignedTo, w.AssignedAt = nil, nil, nil },
		},
		{
			name: "time is stored in UTC",
			in:   ticketIn(domain.StatusAssigned),
			to:   domain.StatusInProgress,
			at:   at.In(berlin),
			want: func(w *domain.Ticket) { w.StartedAt = ptr(at) },
		},
		{
			name:     "assigned without a team is refused",
			in:       ticketIn(domain.StatusOpen),
			to:       domain.StatusAssigned,
			wantCode: domain.CodeInvalid,
			field:    "assigned_team",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.in
			when := tt.at
			if when.IsZero() {
				when = at
			}
			got, err := tt.in.Transition(tt.to, when)
			checkErr(t, err, tt.wantCode, tt.field)
			if diff := cmp.Diff(orig, tt.in); diff != "" {
				t.Errorf("input ticket mutated (-want +got):\n%s", diff)
			}
			if tt.wantCode != "" {
				return
			}
			want := tt.in
			want.Status, want.UpdatedAt = tt.to, at
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Transition(%s) mismatch (-want +got):\n%s", tt.to, diff)
			}
			for name, ts := range map[string]*time.Time{"updated_at": &got.UpdatedAt, "started_at": got.StartedAt, "resolved_at": got.ResolvedAt, "closed_at": got.ClosedAt} {
				if ts != nil && ts.Location() != time.UTC {
					t.Errorf("%s location = %v, want UTC", name, ts.Location())
				}
			}
		})
	}
}

func TestTransitionErrorText(t *testing.T) {
	err := &domain.TransitionError{From: domain.StatusClosed, To: domain.StatusOpen}
	if got, want := err.Error(), "status open cannot follow closed"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
