package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
)

// contentTypes fixes the media types of web assets so they do not depend on the host's
// mime.types (a service worker served as text/plain is refused by browsers).
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".jpg":         "image/jpeg",
	".woff2":       "font/woff2",
	".txt":         "text/plain; charset=utf-8",
	".map":         "application/json",
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) error {
	return s.serveFile(w, r, "index.html")
}

func (s *Server) handleField(w http.ResponseWriter, r *http.Request) error {
	return s.serveFile(w, r, "field.html")
}

func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request) error {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" {
		return domain.Errorf(domain.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	}
	return s.serveFile(w, r, strings.TrimPrefix(path.Clean(r.URL.Path), "/"))
}

// serveFile serves one file of the web root. Files are not fingerprinted, so every response is
// "no-cache" with a strong ETag: browsers revalidate each time and get a cheap 304 when
// nothing changed, and a new release is never hidden behind a stale cache.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) error {
	notFound := domain.Errorf(domain.CodeNotFound, "no such page %q", r.URL.Path)
	if s.Web == nil || !fs.ValidPath(name) || name == "." {
		return notFound
	}
	b, err := fs.ReadFile(s.Web, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
		return notFound
	} else if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // a directory
			return notFound
		}
		return err
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = http.DetectContentType(b)
	}
	sum := sha256.Sum256(b)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}
