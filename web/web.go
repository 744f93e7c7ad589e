// Package web is wagate's dashboard: a small single-page app (plain HTML,
// CSS and ES modules, no framework, no build step) embedded in the binary
// and served by the API role at "/". The page is a client of the public
// HTTP API and the WebSocket like any other; the server side only serves
// files, so everything the dashboard does can also be done with curl.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/httpapi"
)

//go:embed static
var static embed.FS

// Config is what the page must know about the server before it can ask the
// API anything.
type Config struct {
	// Simulator offers the simulator provider and its controls (scan,
	// inbound, disconnect, history) on simulator sessions.
	Simulator bool
	// MailLogged tells the sign-up page that verification links are written
	// to the server log (no SMTP configured) rather than mailed.
	MailLogged bool
	// Version is shown in the page footer.
	Version string
}

// contentSecurityPolicy allows nothing but this origin: no inline scripts or
// styles, no CDNs, no framing. 'self' in connect-src covers the same-origin
// WebSocket. Images may be data:/blob: URLs (QR codes, media previews).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// file is one served file, read once at start.
type file struct {
	name        string
	contentType string
	etag        string
	body        []byte
}

// Register adds the dashboard to mux: "GET /{$}" serves the page and
// "GET /assets/" its scripts, styles and images. Every file is read from
// the embedded tree once, here, so a broken embed fails at start.
func Register(mux *http.ServeMux, cfg Config, logger *slog.Logger) error {
	index, err := renderIndex(cfg)
	if err != nil {
		return err
	}
	assets, err := loadAssets()
	if err != nil {
		return err
	}
	mux.Handle("GET /{$}", serveFile(index))
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := assets[r.URL.Path]
		if !ok {
			httpapi.WriteError(w, r, logger, apperr.NotFound("asset-not-found", "no such asset: "+r.URL.Path))
			return
		}
		serveFile(f).ServeHTTP(w, r)
	})))
	return nil
}

// renderIndex fills the page template with the server facts; the result is
// the same for every request.
func renderIndex(cfg Config) (file, error) {
	tmpl, err := template.ParseFS(static, "static/index.html")
	if err != nil {
		return file{}, fmt.Errorf("parse dashboard page: %w", err)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, cfg); err != nil {
		return file{}, fmt.Errorf("render dashboard page: %w", err)
	}
	return newFile("index.html", buf.Bytes()), nil
}

// loadAssets reads every file under static/assets, keyed by its path
// relative to /assets/.
func loadAssets() (map[string]file, error) {
	root, err := fs.Sub(static, "static/assets")
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	assets := map[string]file{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		assets[p] = newFile(p, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dashboard assets: %w", err)
	}
	return assets, nil
}

func newFile(name string, body []byte) file {
	sum := sha256.Sum256(body)
	return file{
		name:        name,
		contentType: contentType(name),
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		body:        body,
	}
}

// contentType is fixed per extension rather than taken from the host's
// mime.types, so the page works the same on every machine (a module script
// served as text/plain is refused by browsers).
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	default:
		return "application/octet-stream"
	}
}

// serveFile answers with the file and an ETag. Files change only with the
// binary, so browsers may keep them but must revalidate ("no-cache"): an
// upgrade is picked up on the next load and an unchanged file costs a 304.
func serveFile(f file) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// Mailed links carry tokens in the query string: never leak them.
		h.Set("Referrer-Policy", "no-referrer")
		if f.name == "index.html" {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Frame-Options", "DENY")
		}
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}
