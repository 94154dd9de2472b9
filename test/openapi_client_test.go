package test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hookstream/hookstream/httpapi"
	"github.com/hookstream/hookstream/test/apiclient"
)

// oapiCodegen is the generator of test/apiclient, as its go:generate line runs it.
const oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

// TestGeneratedClientIsCurrent regenerates the client from the OpenAPI document and fails when the committed
// one differs: the document must stay something a code generator turns into a working client.
func TestGeneratedClientIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs oapi-codegen through go run")
	}
	out := filepath.Join(t.TempDir(), "client.gen.go")
	cmd := exec.Command("go", "run", oapiCodegen, "-config", "oapi-codegen.yaml", "-o", out, "../../httpapi/openapi.json")
	cmd.Dir = "apiclient"
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, output)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("apiclient/client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("test/apiclient/client.gen.go is stale: run go generate ./test/apiclient")
	}
}

// TestGeneratedClientRoundTrip creates a webhook with the generated client and reads it back, through the
// harness's checked HTTP client.
func TestGeneratedClientRoundTrip(t *testing.T) {
	h := startEngine(t)
	ctx := context.Background()
	c, err := apiclient.NewClientWithResponses(h.base, apiclient.WithHTTPClient(h.client),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+adminToken)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	name, jitter := "generated", float32(0.2)
	created, err := c.CreateWebhookWithResponse(ctx, tenantA, apiclient.WebhookCreate{
		Name:       &name,
		Endpoint:   apiclient.EndpointCreate{Url: "https://example.com/hooks"},
		EventTypes: &[]apiclient.EventType{"policy.issue"},
		FailureHandling: &apiclient.FailureHandlingCreate{RetryStrategy: &apiclient.RetryStrategyCreate{
			Attempts: 3, Interval: 10, Type: apiclient.Exponential, Jitter: &jitter}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.JSON200 == nil {
		t.Fatalf("create: status %d: %s", created.StatusCode(), created.Body)
	}
	got, err := c.GetWebhookWithResponse(ctx, tenantA, created.JSON200.Locator)
	if err != nil {
		t.Fatal(err)
	}
	w := got.JSON200
	if w == nil {
		t.Fatalf("get: status %d: %s", got.StatusCode(), got.Body)
	}
	rs := w.FailureHandling.RetryStrategy
	if w.Name != name || w.Endpoint.Url != "https://example.com/hooks" || len(w.EventTypes) != 1 || w.EventTypes[0] != "policy.issue" ||
		rs == nil || rs.Attempts != 3 || rs.Interval != 10 || rs.Type != apiclient.Exponential {
		t.Fatalf("read back %s", got.Body)
	}
	if w.Endpoint.Secret == created.JSON200.Endpoint.Secret {
		t.Fatal("the secret is not masked on fetch")
	}

	// An error answer decodes into the face's error type.
	missing, err := c.GetWebhookWithResponse(ctx, tenantA, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if err != nil {
		t.Fatal(err)
	}
	if missing.JSON404 == nil || missing.JSON404.Code != apiclient.NotFound {
		t.Fatalf("get a missing webhook: status %d: %s", missing.StatusCode(), missing.Body)
	}

	// Routes the other tests leave out, so that their answers are checked against the document too.
	for _, path := range []string{"/healthz", "/readyz", "/console"} {
		h.must(http.StatusOK, http.MethodHead, path, "", nil)
	}
	ev := h.must(http.StatusAccepted, http.MethodPost, "/event/"+tenantA+"/events", adminToken,
		map[string]any{"type": "policy.issue", "data": map[string]any{"n": 1}}).object(t)
	expect(t, h.v1(http.MethodGet, "/v1/events/"+ev["locator"].(string), adminToken, nil, "Hookstream-Tenant", tenantA), http.StatusOK)

	// The engine serves the document the client was generated from, without a token.
	if doc := h.must(http.StatusOK, http.MethodGet, "/openapi.json", "", nil); !bytes.Equal(doc.body, httpapi.OpenAPI()) {
		t.Fatal("GET /openapi.json is not the embedded document")
	}
}
