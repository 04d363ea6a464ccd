package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aiff/aiff/domain"
)

// runUserActive deactivates or reactivates a user by username. It writes through the store
// like PUT /api/users/{id} does, so the store revokes the user's refresh tokens and logs the
// change that takes the news to the edges; running hubs refuse the user's access tokens once
// their user cache entry expires (seconds).
func runUserActive(ctx context.Context, verb string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	username := fs.String("username", "", "login name (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name := strings.TrimSpace(*username)
	if name == "" {
		return fmt.Errorf("--username is required")
	}
	store, err := f.open(ctx, newLogger(getenv, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.GetUserByUsername(ctx, name)
	if err != nil {
		return fmt.Errorf("--username: %s", domain.ErrorMessage(err))
	}
	active := verb == "activate"
	if u.IsActive == active {
		fmt.Fprintf(stdout, "user %s is already %sd\n", u.Username, verb)
		return nil
	}
	// No actor: the command line is the way back in when no other admin is left, so the
	// self-lockout rule of the API does not apply.
	u, err = store.UpdateUser(ctx, u.ID, func(u domain.User) (domain.User, error) {
		return domain.UserPatch{IsActive: domain.Some(active)}.Apply(u, "")
	})
	if err != nil {
		return fmt.Errorf("%s user: %s", verb, domain.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "%sd %s user %s (id %s)\n", verb, u.Role, u.Username, u.ID)
	return nil
}
