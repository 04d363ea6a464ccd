package syncstore

import (
	"context"
	"testing"
	"time"
)

func TestPauseYieldsToIngest(t *testing.T) {
	d := 100 * time.Millisecond
	if got := pause(d, 0.1, false); got != 900*time.Millisecond {
		t.Errorf("idle ingest: pause %v, want 900ms (duty 0.1)", got)
	}
	if got := pause(d, 0.1, true); got != 4900*time.Millisecond {
		t.Errorf("busy ingest: pause %v, want 4.9s (duty 0.02)", got)
	}
}

func TestIngestBusy(t *testing.T) {
	var in Ingest
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if in.Busy(t0) {
		t.Error("busy before any push")
	}
	in.Pushed(t0)
	if !in.Busy(t0.Add(900 * time.Millisecond)) {
		t.Error("not busy 0.9s after a push")
	}
	if in.Busy(t0.Add(1100 * time.Millisecond)) {
		t.Error("still busy 1.1s after a push")
	}
}

func TestPaceWithoutDutyDoesNotWait(t *testing.T) {
	start := time.Now()
	if err := Pace(context.Background(), time.Hour, true); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Error("Pace without a duty waited")
	}
	ctx, cancel := context.WithCancel(WithDuty(context.Background(), 0.1))
	cancel()
	if err := Pace(ctx, time.Hour, false); err == nil {
		t.Error("Pace ignored a cancelled context")
	}
}
