package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/aiff/aiff/edge"
)

// runEdge runs one edge node until the context ends. The hub need not be reachable at start:
// the node serves its zones from its own SQLite file and syncs when it can.
func runEdge(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hub := fs.String("hub", getenv("AIFF_HUB_URL"), "hub root URL, e.g. http://hub.example:8085 (required)")
	token := fs.String("token", getenv("AIFF_EDGE_TOKEN"), "edge credential from 'aiff edge-token' (required)")
	data := fs.String("data", envOr(getenv, "AIFF_DATA_DIR", "./aiff-edge-data"), "data directory (edge.db, keys)")
	addr := fs.String("addr", envOr(getenv, "AIFF_ADDR", edge.DefaultAddr), "listen address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *hub == "" {
		return errors.New("edge: --hub is required")
	}
	if u, err := url.Parse(*hub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("edge: --hub: want http(s)://host:port, got %q", *hub)
	}
	if edge.NodeFromToken(*token) == "" {
		return errors.New("edge: --token: want an edge credential from 'aiff edge-token' (aiffe_<name>_<secret>)")
	}
	n := edge.New(edge.Config{HubURL: *hub, Token: *token, DataDir: *data, Addr: *addr, Logger: newLogger(getenv, stderr)})
	if err := n.Open(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "AIFF edge %s listening on %s (hub %s)\n", edge.NodeFromToken(*token), n.URL(), *hub)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return n.Close(sctx)
}
