package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "AIFF_SYNC_RETENTION" {
			return "48h"
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"compact", "--data", dir}, env, &out, &errOut); err != nil {
		t.Fatalf("compact: %v (%s)", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "compacted the change log at horizon ") {
		t.Errorf("output %q", out.String())
	}
	if err := run(context.Background(), []string{"compact", "--data", dir, "--retention", "1m"}, env, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "--retention must be at least") {
		t.Errorf("short retention: %v", err)
	}
	bad := func(k string) string {
		if k == "AIFF_SYNC_RETENTION" {
			return "a month"
		}
		return ""
	}
	if err := run(context.Background(), []string{"compact", "--data", dir}, bad, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "AIFF_SYNC_RETENTION") {
		t.Errorf("bad env: %v", err)
	}
}
