package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// demoEdge is one edge node started by `aiff demo --edges N`.
type demoEdge struct {
	name string
	zone string
	node *edge.Node
}

// startDemoEdges starts n edge nodes, one per zone in name order, each with its own data dir
// (DATA/edge-<i>) and port (8090+i when the hub has a fixed port, a free one otherwise). The
// credential is minted on first start and its token kept in the edge's data dir (0600), so a
// restarted demo resumes the same edges with their unsynced edits.
func startDemoEdges(ctx context.Context, store hubStore, hubURL, hubAddr, dataDir string, n int, logger *slog.Logger) ([]demoEdge, error) {
	if n == 0 {
		return nil, nil
	}
	ss, ok := store.(syncstore.Store)
	if !ok {
		return nil, errors.New("demo edges: the hub store does not support sync")
	}
	zones, err := store.ListZones(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(zones, func(a, b domain.Zone) int { return strings.Compare(a.Name, b.Name) })
	if n > len(zones) {
		return nil, fmt.Errorf("--edges %d: the demo city has only %d zones", n, len(zones))
	}
	host, port, err := net.SplitHostPort(hubAddr)
	if err != nil {
		return nil, fmt.Errorf("hub address %q: %w", hubAddr, err)
	}
	var edges []demoEdge
	for i := range n {
		zone := zones[i].Name
		dir := filepath.Join(dataDir, fmt.Sprintf("edge-%d", i+1))
		token, err := demoEdgeToken(ctx, ss, dir, zone)
		if err != nil {
			closeDemoEdges(edges)
			return nil, fmt.Errorf("edge for %s: %w", zone, err)
		}
		addr := net.JoinHostPort(host, "0")
		if port != "0" {
			addr = net.JoinHostPort(host, strconv.Itoa(8090+i))
		}
		name := edge.NodeFromToken(token)
		node := edge.New(edge.Config{HubURL: hubURL, Token: token, DataDir: dir, Addr: addr,
			Logger: logger.With("edge", name)})
		if err := node.Open(ctx); err != nil {
			closeDemoEdges(edges)
			return nil, fmt.Errorf("edge for %s: %w", zone, err)
		}
		edges = append(edges, demoEdge{name: name, zone: zone, node: node})
	}
	return edges, nil
}

// demoEdgeToken returns the edge credential kept in dir, minting one for zone on first use.
func demoEdgeToken(ctx context.Context, ss syncstore.Store, dir, zone string) (string, error) {
	path := filepath.Join(dir, "edge.token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// A short random suffix keeps the name unique if an earlier demo's data dir was deleted
	// while its credential stayed in the hub's database.
	name := "edge-" + slug(zone) + "-" + strings.ToLower(rand.Text()[:4])
	_, token, err := ss.CreateEdgeCredential(ctx, syncstore.EdgeCredential{Name: name, Zones: []string{zone}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, nil
}

func closeDemoEdges(edges []demoEdge) {
	for _, e := range edges {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		_ = e.node.Close(sctx)
		cancel()
	}
}

// slug lowercases s and keeps only characters valid in an edge name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == 'ä':
			b.WriteString("ae")
		case r == 'ö':
			b.WriteString("oe")
		case r == 'ü':
			b.WriteString("ue")
		case r == 'ß':
			b.WriteString("ss")
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
