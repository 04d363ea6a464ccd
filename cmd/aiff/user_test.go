package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
)

// TestUserDeactivate: the command deactivates by username through the store (so the refresh
// tokens are revoked and the change is logged for the edges), reports a repeat as a no-op,
// refuses unknown users and a missing --username, and activate lets the user back in.
func TestUserDeactivate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errOut syncBuffer
	if err := run(ctx, []string{"user", "add", "--data", dir, "--username", "alice", "--password", "s3cret!", "--role", "viewer"}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	f := dbFlags{data: dir}
	store, err := f.open(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateRefreshToken(ctx, domain.RefreshToken{Hash: "h1", UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	seq, err := store.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "deactivate", "--data", dir, "--username", "alice"}, "deactivated viewer user alice"},
		{[]string{"user", "deactivate", "--data", dir, "--username", "alice"}, "user alice is already deactivated"},
	} {
		var out syncBuffer
		if err := run(ctx, tt.args, env(nil), &out, &errOut); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Fatalf("%v: stdout %q, want %q", tt.args, out.String(), tt.want)
		}
	}
	store, err = f.open(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if u, err = store.GetUser(ctx, u.ID); err != nil || u.IsActive {
		t.Fatalf("after deactivate: %+v, %v", u, err)
	}
	if rt, err := store.GetRefreshToken(ctx, "h1"); err != nil || rt.RevokedAt == nil {
		t.Fatalf("refresh token after deactivate: %+v, %v", rt, err)
	}
	if chs, err := store.ListChanges(ctx, seq, nil, 10); err != nil || len(chs) != 1 || chs[0].EntityID != u.ID {
		t.Fatalf("changes after deactivate: %+v, %v (want one, for the edges)", chs, err)
	}
	store.Close()

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "deactivate", "--data", dir}, "--username is required"},
		{[]string{"user", "deactivate", "--data", dir, "--username", "bob"}, "--username"},
		{[]string{"user", "frobnicate", "--data", dir}, "usage"},
	} {
		err := run(ctx, tt.args, env(nil), io.Discard, io.Discard)
		if err == nil || !strings.Contains(oneLine(err), tt.want) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}

	out = syncBuffer{}
	if err := run(ctx, []string{"user", "activate", "--data", dir, "--username", "alice"}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "activated viewer user alice") {
		t.Fatalf("stdout %q", out.String())
	}
}
