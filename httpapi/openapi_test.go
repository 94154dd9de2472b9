package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
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

// TestOpenAPISchemasAreJSONSchema2020 checks what kin-openapi leaves out for OpenAPI 3.1: that every schema of
// the document (components, parameters, headers, bodies) is a valid JSON Schema 2020-12 schema, by compiling
// each with a 2020-12 compiler, which validates it against the 2020-12 meta-schema.
func TestOpenAPISchemasAreJSONSchema2020(t *testing.T) {
	const base = "https://hookstream.invalid/schemas/"
	// Each schema becomes a resource of its own, so that the meta-schema sees all of it; references between
	// components follow.
	text := strings.ReplaceAll(string(openAPIDocument), `"#/components/schemas/`, `"`+base)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(map[string]any)
	components := doc["components"].(map[string]any)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	var locs []string
	add := func(loc string, schema any) {
		if err := c.AddResource(loc, schema); err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		locs = append(locs, loc)
	}
	for name, schema := range components["schemas"].(map[string]any) {
		add(base+name, schema)
	}
	var walk func(where string, node any)
	walk = func(where string, node any) {
		switch n := node.(type) {
		case map[string]any:
			for k, child := range n {
				if k == "schema" {
					add(base+"inline"+where+"/schema", child)
					continue
				}
				walk(where+"/"+strings.NewReplacer("/", "~1", "{", "", "}", "").Replace(k), child)
			}
		case []any:
			for i, child := range n {
				walk(fmt.Sprintf("%s/%d", where, i), child)
			}
		}
	}
	walk("/paths", doc["paths"])
	for _, part := range []string{"parameters", "responses", "headers"} {
		walk("/components/"+part, components[part])
	}
	sort.Strings(locs)
	for _, loc := range locs {
		if _, err := c.Compile(loc); err != nil {
			t.Errorf("%s is not a valid JSON Schema 2020-12 schema: %v", strings.TrimPrefix(loc, base), err)
		}
	}
	if len(locs) < 100 {
		t.Errorf("compiled only %d schemas", len(locs))
	}
}
