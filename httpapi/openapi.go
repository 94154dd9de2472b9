package httpapi

import (
	_ "embed"
	"net/http"
)

//go:generate go run ../internal/openapidoc/gen -o openapi.json

// openAPIDocument is the OpenAPI 3.1 document of every route New registers. It is written by
// internal/openapidoc from the limits the engine enforces; tests check it against the router and against every
// request and response of the end-to-end tests.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as JSON.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
}
