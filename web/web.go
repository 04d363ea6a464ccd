// Package web holds the dispatcher dashboard and the field portal: static HTML, CSS and JS
// embedded into the binary so that the hub and edge nodes serve them with no other files.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// FS is the web root: index.html (dashboard), field.html (field portal) and their assets.
var FS, _ = fs.Sub(files, "static")
