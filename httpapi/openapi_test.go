package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// undocumentedRoutes are the routes the document leaves out on purpose: the console's static assets, a
// path prefix that OpenAPI cannot describe (the document's description says so).
var undocumentedRoutes = []string{"/console/"}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentValidates checks the document against the OpenAPI 3.1 rules kin-openapi implements: the
// structure of every object, that every $ref resolves, that schemas (with JSON Schema 2020-12 keywords) and
// regular expressions compile, and that every example validates against its schema.
func TestOpenAPIDocumentValidates(t *testing.T) {
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi is %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
}

// TestOpenAPICoversEveryRoute fails when the router has a route the document does not describe, or the
// document describes a path and method the router does not serve.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	a := New(Config{Registry: prometheus.NewRegistry()})
	registered := map[string]bool{}
	err := a.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		if slices.Contains(undocumentedRoutes, tpl) {
			return nil
		}
		for _, m := range methods {
			registered[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for route := range registered {
		if !documented[route] {
			t.Errorf("route %s is registered but not in the OpenAPI document", route)
		}
	}
	for route := range documented {
		if !registered[route] {
			t.Errorf("the OpenAPI document describes %s, which no route serves", route)
		}
	}
	if len(registered) < 40 {
		t.Errorf("walked only %d routes: %v", len(registered), registered)
	}
}

func TestOpenAPIServed(t *testing.T) {
	a := New(Config{Registry: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler),
		Serving: func() (bool, bool) { return false, false }})
	rec := httptest.NewRecorder()
	// Served while the engine is still starting, as the probes are.
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(OpenAPI()) {
		t.Fatal("GET /openapi.json does not answer the embedded document")
	}
}
