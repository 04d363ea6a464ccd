package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// runEdgeToken mints an edge credential and prints its token (shown once; only its hash is
// stored), or revokes one with --revoke NAME.
//
//	aiff edge-token --zone Z[,Z…] [--name NAME] [--expires 720h] [--db URL] [--data DIR]
//	aiff edge-token --revoke NAME [--db URL] [--data DIR]
func runEdgeToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	zones := fs.String("zone", "", "comma-separated zones the edge serves")
	name := fs.String("name", "", "edge name, its node id (default edge-<first zone>)")
	expires := fs.Duration("expires", 0, "credential lifetime, e.g. 720h (0 = never expires)")
	revoke := fs.String("revoke", "", "revoke the credential of this edge instead")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *revoke != "" {
		if *zones != "" || *name != "" || *expires != 0 {
			return errors.New("--revoke takes no --zone, --name or --expires")
		}
	} else {
		if strings.TrimSpace(*zones) == "" {
			return errors.New("--zone is required (comma-separated zone names)")
		}
		if *expires < 0 {
			return errors.New("--expires must not be negative")
		}
	}
	store, err := f.open(ctx, newLogger(getenv, io.Discard))
	if err != nil {
		return err
	}
	defer store.Close()
	ss, ok := store.(syncstore.Store)
	if !ok {
		return errors.New("this store does not support sync")
	}
	if *revoke != "" {
		if err := ss.RevokeEdgeCredential(ctx, *revoke); err != nil {
			return fmt.Errorf("revoke %s: %s", *revoke, domain.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "edge credential %s revoked\n", *revoke)
		return nil
	}
	var list []string
	for _, z := range strings.Split(*zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			list = append(list, z)
		}
	}
	c := syncstore.EdgeCredential{Name: *name, Zones: list}
	if c.Name == "" {
		c.Name = "edge-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
				return r
			}
			return '-'
		}, strings.ToLower(list[0]))
	}
	if *expires > 0 {
		at := time.Now().Add(*expires)
		c.ExpiresAt = &at
	}
	c, token, err := ss.CreateEdgeCredential(ctx, c)
	if err != nil {
		if f := domain.ErrorField(err); f != "" {
			return fmt.Errorf("--%s: %s", map[string]string{"name": "name", "zones": "zone"}[f], domain.ErrorMessage(err))
		}
		return fmt.Errorf("edge-token: %s", domain.ErrorMessage(err))
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "edge %s may sync zones %s; keep the token secret, it is not shown again\n", c.Name, strings.Join(c.Zones, ", "))
	return nil
}
