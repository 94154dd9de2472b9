// Package console holds hookstream's web console: static assets embedded in the binary, served with headers
// that forbid inline scripts, other origins and framing. The console is a client of the HTTP API and holds
// no state of its own on the server.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Policy is the Content-Security-Policy every console response carries: scripts, styles, images and API
// calls from this origin only, no inline script or eval, no plugins, and no framing.
const Policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the console's assets at the root of the path it is given; mount it under a prefix with
// http.StripPrefix.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The embedded tree is fixed at build time: a missing folder is a build defect.
		panic("console: embedded assets missing: " + err.Error())
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", Policy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Assets change with the binary; revalidating keeps a new version from mixing with cached old modules.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
