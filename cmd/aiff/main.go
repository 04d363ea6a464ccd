// Command aiff is the one AIFF binary: the hub, edge nodes, the demo and the admin tools.
//
//	aiff demo | hub | edge | migrate | seed | user add|deactivate|activate | version
//
// Each subcommand parses its own flags over environment defaults (flags win), and every
// long-running one stops cleanly on the first SIGINT/SIGTERM and at once on the second.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aiff/aiff/hub/gctune"
)

func main() {
	gctune.Apply(os.Getenv)
	ctx, stop := signalContext()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "aiff:", oneLine(err))
		os.Exit(1)
	}
}

// signalContext is cancelled on the first SIGINT/SIGTERM so servers drain; a second signal
// exits at once, for when a drain hangs.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		fmt.Fprintln(os.Stderr, "aiff: second signal, exiting now")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

const usage = `usage: aiff <command> [flags]

commands:
  demo        hub + demo data on embedded SQLite; prints URLs and logins
  hub         run the hub (Postgres with --db/DATABASE_URL, else embedded SQLite)
  edge        run an edge node for a regional office (--hub URL --token T)
  edge-token  mint (--zone Z[,Z…] [--name N]) or --revoke an edge credential
  compact     fold sync history older than --retention (default 720h) and refuse older edits
  migrate     apply database migrations and exit
  seed        load synthetic operations data
  user add    create a user
  user deactivate / activate
              lock a user out everywhere (sessions, refresh tokens, edges) or let them back in
  version     print the version

Run 'aiff <command> -h' for a command's flags.`

// run dispatches to a subcommand. getenv supplies defaults so tests control the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "hub":
		return runHub(ctx, rest, getenv, stdout, stderr)
	case "edge":
		return runEdge(ctx, rest, getenv, stdout, stderr)
	case "edge-token":
		return runEdgeToken(ctx, rest, getenv, stdout, stderr)
	case "compact":
		return runCompact(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "seed":
		return runSeed(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "aiff", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// oneLine flattens an error to one line: drivers (pgx) report multi-line dial errors, and the
// contract is one line of reason on stderr.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"
