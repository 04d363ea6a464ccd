package sqlite_test

import "testing"

// TestIntegrityViewSkipsRowsWhilePending checks that a zone with unsynced local changes is
// reported as pending without its rows (it is not compared then), and that once the change is
// acknowledged through the log the view holds the zone's rows at the cursor.
func TestIntegrityViewSkipsRowsWhilePending(t *testing.T) {
	s, h, f := seeded(t)
	v, err := s.Integrity(ctx, "North")
	if err != nil {
		t.Fatal(err)
	}
	if v.Pending != 0 || len(v.States) != 3 || v.Cursor != h.seq {
		t.Fatalf("synced view: pending %d, %d states, cursor %d; want 0, 3 (zone, team, ticket), %d", v.Pending, len(v.States), v.Cursor, h.seq)
	}

	if _, err := s.UpdateTicket(ctx, f.ticket.ID, setTitle("offline")); err != nil {
		t.Fatal(err)
	}
	if v, err = s.Integrity(ctx, "North"); err != nil {
		t.Fatal(err)
	}
	if v.Pending != 1 || v.States != nil {
		t.Errorf("view with a pending change: pending %d, %d states; want 1 and no rows read", v.Pending, len(v.States))
	}

	echoPending(t, s, h)
	if v, err = s.Integrity(ctx, "North"); err != nil {
		t.Fatal(err)
	}
	if v.Pending != 0 || len(v.States) != 3 {
		t.Errorf("view after the change came back: pending %d, %d states; want 0, 3", v.Pending, len(v.States))
	}
}
