package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
	"github.com/aiff/aiff/hub/seed"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	store, err := f.open(ctx, newLogger(getenv, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "database is migrated")
	return nil
}

func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	def := seed.DemoConfig(time.Time{}, "")
	zones := fs.Int("zones", def.Zones, "zones (districts)")
	teams := fs.Int("teams", def.Teams, "field teams")
	tickets := fs.Int("tickets", def.Tickets, "tickets of history")
	days := fs.Int("days", def.Days, "days of history, ending now")
	seedVal := fs.Int64("seed", def.Seed, "random seed; the same seed gives the same data")
	password := fs.String("password", "demo", "password of the generated users")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := domain.ValidatePassword(*password); err != nil {
		return fmt.Errorf("--password: %s", domain.ErrorMessage(err))
	}
	cfg := seed.Config{Seed: *seedVal, Zones: *zones, Teams: *teams, Tickets: *tickets, Days: *days, Now: time.Now(), PasswordHash: "x"}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("--%s: %s", domain.ErrorField(err), domain.ErrorMessage(err))
	}
	hash, err := auth.HashPassword(*password)
	if err != nil {
		return err
	}
	cfg.PasswordHash = hash
	store, err := f.open(ctx, newLogger(getenv, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	if err := seed.Load(ctx, store, seed.Generate(cfg), stderr); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d zones, %d teams, %d tickets in %s\n", cfg.Zones, cfg.Teams, cfg.Tickets, time.Since(start).Round(time.Millisecond))
	return nil
}

func runUser(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "deactivate" || args[0] == "activate") {
		return runUserActive(ctx, args[0], args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("usage: aiff user add --username U --password P --role admin|dispatcher|field|viewer [--team ID] | aiff user deactivate|activate --username U")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	username := fs.String("username", "", "login name (required)")
	password := fs.String("password", "", "password (required)")
	role := fs.String("role", "", "admin, dispatcher, field or viewer (required)")
	team := fs.String("team", "", "team id (required for field users)")
	email := fs.String("email", "", "email address")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := domain.ValidatePassword(*password); err != nil {
		return fmt.Errorf("--password: %s", domain.ErrorMessage(err))
	}
	hash, err := auth.HashPassword(*password)
	if err != nil {
		return err
	}
	u := domain.User{Username: strings.TrimSpace(*username), Email: *email, Role: domain.Role(*role), IsActive: true, PasswordHash: hash}
	if *team != "" {
		u.TeamID = team
	}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(domain.ErrorField(err), "_id", ""), domain.ErrorMessage(err))
	}
	store, err := f.open(ctx, newLogger(getenv, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	u, err = store.CreateUser(ctx, u)
	if err != nil {
		return fmt.Errorf("create user: %s", domain.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "created %s user %s (id %s)\n", u.Role, u.Username, u.ID)
	return nil
}
