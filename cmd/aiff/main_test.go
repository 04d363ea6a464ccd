package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for the command goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// checkFor polls cond until it holds or the deadline passes.
func checkFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDemoEndToEnd runs the real `aiff demo` on a free port: it must seed, print its URL and
// logins, answer a login and list seeded tickets, and stop cleanly when cancelled. A second
// start on the same data dir must not seed again.
func TestDemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	for round := 1; round <= 2; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--edges", "0"}, env(map[string]string{"AIFF_RATE_LIMIT": "0"}), &out, &errOut)
		}()
		urlRe := regexp.MustCompile(`dispatcher dashboard\s+(http://\S+)/`)
		checkFor(t, 60*time.Second, func() bool {
			select {
			case err := <-done:
				t.Fatalf("demo exited early: %v\nstderr:\n%s", err, errOut.String())
			default:
			}
			return urlRe.MatchString(out.String())
		})
		base := urlRe.FindStringSubmatch(out.String())[1]
		for _, want := range []string{"admin", "dispatcher", "viewer", "field-", "Logins"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("banner lacks %q:\n%s", want, out.String())
			}
		}
		seededNow := strings.Contains(errOut.String(), "seeding demo data")
		if (round == 1) != seededNow {
			t.Errorf("round %d: seeded=%v, want seeding only on first start", round, seededNow)
		}

		body, _ := json.Marshal(map[string]string{"username": "dispatcher", "password": "demo"})
		resp, err := http.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var sess struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		decode(t, resp, &sess)
		if sess.AccessToken == "" || sess.TokenType != "bearer" {
			t.Fatalf("login: %+v", sess)
		}
		req, _ := http.NewRequest("GET", base+"/api/tickets?limit=5&total=true", nil)
		req.Header.Set("Authorization", "Bearer "+sess.AccessToken)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []map[string]any `json:"items"`
			Total int              `json:"total"`
		}
		decode(t, resp, &page)
		if len(page.Items) != 5 || page.Total < 1000 {
			t.Fatalf("list: %d items, total %d; want 5 of a seeded city", len(page.Items), page.Total)
		}

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("demo stop: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("demo did not stop within 30s of cancel")
		}
	}
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// TestBadInvocations: each must fail fast with a one-line reason, never start a server.
func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"hub", "--nope"}, "flag provided but not defined"},
		{"stray argument", []string{"migrate", "--data", dir, "extra"}, "unexpected argument"},
		{"bad redis url", []string{"hub", "--data", dir, "--redis", "http://x"}, "--redis"},
		{"unreachable postgres", []string{"migrate", "--db", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "postgres"},
		{"bad role", []string{"user", "add", "--data", dir, "--username", "bob", "--password", "secret", "--role", "king"}, "--role"},
		{"field user without team", []string{"user", "add", "--data", dir, "--username", "bob", "--password", "secret", "--role", "field"}, "--team"},
		{"short password", []string{"user", "add", "--data", dir, "--username", "bob", "--password", "x", "--role", "viewer"}, "--password"},
		{"seed bad zones", []string{"seed", "--data", dir, "--zones", "0"}, "--zones"},
		{"edge without hub", []string{"edge", "--data", dir, "--token", "x"}, "--hub"},
		{"edge bad hub url", []string{"edge", "--data", dir, "--hub", "ftp://x", "--token", "x"}, "--hub"},
		{"edge bad token", []string{"edge", "--data", dir, "--hub", "http://127.0.0.1:1", "--token", "not-a-token"}, "--token"},
		{"demo bad edges", []string{"demo", "--data", dir, "--edges", "-1"}, "--edges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errOut syncBuffer
			err := run(ctx, tt.args, env(nil), &out, &errOut)
			if err == nil {
				t.Fatalf("want error, got nil; stdout %s", out.String())
			}
			if msg := oneLine(err); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestUserAddThenLoginWorks covers the admin path: migrate, add a user, reject a duplicate.
func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errOut syncBuffer
	if err := run(ctx, []string{"migrate", "--data", dir}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	args := []string{"user", "add", "--data", dir, "--username", "alice", "--password", "s3cret!", "--role", "dispatcher"}
	if err := run(ctx, args, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created dispatcher user alice") {
		t.Errorf("stdout: %s", out.String())
	}
	err := run(ctx, args, env(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "alice") && !strings.Contains(err.Error(), "exists") && !strings.Contains(err.Error(), "taken") {
		t.Errorf("duplicate user: got %v", err)
	}
}
