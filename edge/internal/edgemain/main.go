// Command edgemain runs one edge node (edge.Node) until SIGINT/SIGTERM. It is the process the
// kill -9 tests start and kill, independent of how cmd/aiff wires `aiff edge`. It prints the
// node's URL on the first line of stdout once it is serving.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aiff/aiff/edge"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "edgemain:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("edgemain", flag.ContinueOnError)
	hub := fs.String("hub", "", "hub URL")
	token := fs.String("token", "", "edge token")
	data := fs.String("data", "", "data dir")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	node := fs.String("node", "", "node id")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := edge.New(edge.Config{HubURL: *hub, Token: *token, DataDir: *data, Addr: *addr, Node: *node,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	if err := n.Open(ctx); err != nil {
		return err
	}
	fmt.Println(n.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(sctx)
}
