// Package ide is the dev profile's GraphQL IDE: one self-contained page
// (HTML, JavaScript and CSS embedded in the binary, nothing from a CDN)
// with a query editor, variables, the Authorization and Idempotency-Key
// headers, a run button, the answer, and the customer-facing docs' five
// examples. The gateway serves it at /ide only when TEXTKIT_DEV=true.
package ide

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Path is where the gateway serves the IDE; it posts to the /graphql
// beside it.
const Path = "/ide/"

// contentSecurityPolicy lets the page load only its own files and talk
// only to its own origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the IDE under Path (and redirects /ide there).
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fileServer := http.StripPrefix(Path, http.FileServerFS(files))
	mux := http.NewServeMux()
	mux.Handle("GET /ide", http.RedirectHandler(Path, http.StatusMovedPermanently))
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		fileServer.ServeHTTP(w, r)
	})
	return mux
}
