package test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/hookstream/hookstream/httpapi"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openAPIContract loads the engine's OpenAPI document once for every test.
var openAPIContract = sync.OnceValues(loadContract)

// contract is the OpenAPI document ready to check exchanges with: a router that finds a request's operation,
// and the document's body schemas compiled once each. openapi3filter compiles a JSON Schema 2020-12 schema
// on every validation, which costs milliseconds per exchange under the race detector; so it checks
// parameters, headers, statuses and security here, and bodies are checked against the schemas compiled once.
type contract struct {
	router routers.Router

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema // by JSON pointer into the document
}

// schemaBase is the base URL the document's schemas are registered under.
const schemaBase = "https://hookstream.invalid/schemas/"

func loadContract() (*contract, error) {
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate the OpenAPI document: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	// Every schema is a resource of its own: the components by name, the others by their place.
	text := strings.ReplaceAll(string(httpapi.OpenAPI()), `"#/components/schemas/`, `"`+schemaBase)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("decode the OpenAPI document: %w", err)
	}
	c := &contract{router: r, compiler: jsonschema.NewCompiler(), compiled: map[string]*jsonschema.Schema{}}
	c.compiler.DefaultDraft(jsonschema.Draft2020)
	c.compiler.AssertFormat()
	root := v.(map[string]any)
	for name, schema := range root["components"].(map[string]any)["schemas"].(map[string]any) {
		if err := c.compiler.AddResource(schemaBase+name, schema); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	var walk func(ptr string, node any) error
	walk = func(ptr string, node any) error {
		switch n := node.(type) {
		case map[string]any:
			for k, child := range n {
				if k == "schema" {
					if err := c.compiler.AddResource(inlineSchema(ptr+"/schema"), child); err != nil {
						return fmt.Errorf("schema at %s: %w", ptr, err)
					}
					continue
				}
				if err := walk(ptr+"/"+pointerToken(k), child); err != nil {
					return err
				}
			}
		case []any:
			for i, child := range n {
				if err := walk(fmt.Sprintf("%s/%d", ptr, i), child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("/paths", root["paths"]); err != nil {
		return nil, err
	}
	if err := walk("/components/responses", root["components"].(map[string]any)["responses"]); err != nil {
		return nil, err
	}
	return c, nil
}

func pointerToken(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// inlineSchema is the URL of the schema at a JSON pointer into the document.
func inlineSchema(ptr string) string { return schemaBase + "inline/" + hex.EncodeToString([]byte(ptr)) }

// checkJSON validates a JSON body against the schema at ptr.
func (c *contract) checkJSON(ptr string, body []byte) error {
	c.mu.Lock()
	schema, ok := c.compiled[ptr]
	if !ok {
		var err error
		if schema, err = c.compiler.Compile(inlineSchema(ptr)); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("compile the schema at %s: %w", ptr, err)
		}
		c.compiled[ptr] = schema
	}
	c.mu.Unlock()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return schema.Validate(v)
}

// jsonBody returns the JSON pointer of the application/json schema of content (of the object at ptr), or ""
// when content has none.
func jsonBody(ptr string, content openapi3.Content) string {
	if content.Get("application/json") == nil || content["application/json"] == nil {
		return ""
	}
	return ptr + "/content/application~1json/schema"
}

// contractTransport checks every exchange with the engine against the OpenAPI document, and fails the test
// that made it (t.Errorf with method, path, status and the validation error) when either side breaks it.
//
// The rule: every response is validated, its status included (an error status the document does not list for
// the operation fails). The request is validated too, unless the engine answered it with a 4xx: tests send
// malformed and hostile requests on purpose, and refusing them is the engine's job; the refusal itself is
// still checked. So a request the engine accepts must be one the document allows, and every answer must be
// one the document describes. Requests outside the document (the console's static assets, paths no route
// serves, methods a route does not serve) are not checked.
type contractTransport struct {
	t    testing.TB
	next http.RoundTripper
}

// checkedClient returns an HTTP client whose exchanges are checked against the OpenAPI document.
func checkedClient(t testing.TB, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &contractTransport{t: t, next: http.DefaultTransport}}
}

// RoundTrip implements http.RoundTripper.
func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		data, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		reqBody = data
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		// The caller gets what arrived and then the error, as it would have without the check (a test that
		// kills the engine mid-answer looks for it); a cut-off answer is not checked.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(respBody), iotest.ErrReader(err)))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if problem := checkExchange(req, reqBody, resp, respBody); problem != "" {
		c.t.Errorf("OpenAPI contract: %s %s -> %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, problem)
	}
	return resp, nil
}

// checkExchange returns what in the exchange breaks the OpenAPI document, or "".
func checkExchange(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) string {
	c, err := openAPIContract()
	if err != nil {
		return err.Error()
	}
	ctx := context.Background()
	req = req.Clone(ctx)
	// The engine routes on the decoded path, where %2F is a slash: match as it does, so that a path it
	// answers with "no route" is outside the document here too.
	req.URL.RawPath = ""
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return "" // outside the document
	}
	op := "/paths/" + pointerToken(route.Path) + "/" + strings.ToLower(req.Method)
	var problems []string

	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		in := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				AuthenticationFunc: authenticated,
				MultiError:         true,
				ExcludeRequestBody: true,
			},
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			problems = append(problems, "request: "+err.Error())
		}
		// The engine reads every body as JSON whatever its Content-Type (the document says so), and tests
		// often send none: the body is checked as the JSON it was read as.
		rb := route.Operation.RequestBody
		switch {
		case rb == nil && len(reqBody) > 0:
			problems = append(problems, "request: a body the operation does not take")
		case rb != nil && len(reqBody) == 0 && rb.Value.Required:
			problems = append(problems, "request: no body, which the operation requires")
		case rb != nil && len(reqBody) > 0:
			if err := c.checkJSON(jsonBody(op+"/requestBody", rb.Value.Content), reqBody); err != nil {
				problems = append(problems, "request body: "+err.Error())
			}
		}
	}

	status := strconv.Itoa(resp.StatusCode)
	documented := route.Operation.Responses.Value(status)
	if documented == nil {
		problems = append(problems, "response: status "+status+" is not documented for the operation")
		return strings.Join(problems, "; ")
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		problems = append(problems, "response: "+err.Error())
	}
	at := op + "/responses/" + status
	if ref := documented.Ref; ref != "" {
		at = strings.TrimPrefix(ref, "#")
	}
	content := documented.Value.Content
	switch ct := resp.Header.Get("Content-Type"); {
	case req.Method == http.MethodHead:
	case len(content) == 0 && len(respBody) > 0:
		problems = append(problems, "response: a body where the document has none")
	case len(content) > 0 && content.Get(ct) == nil:
		problems = append(problems, fmt.Sprintf("response: content type %q is not documented", ct))
	case strings.HasPrefix(ct, "application/json"):
		if err := c.checkJSON(jsonBody(at, content), respBody); err != nil {
			problems = append(problems, fmt.Sprintf("response body: %v (body %s)", err, truncate(respBody, 300)))
		}
	}
	return strings.Join(problems, "; ")
}

// authenticated checks that a request carries what a security scheme asks for; whether the token is good is
// the engine's to say (and a refusal is a 401, whose request is not checked).
func authenticated(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	switch in.SecurityScheme.Type {
	case "http":
		if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			return nil
		}
		return fmt.Errorf("no bearer token")
	default:
		if h != "" {
			return nil
		}
		return fmt.Errorf("no Authorization header")
	}
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// TestContractCheckCatchesMismatches makes sure the check fails what it should and passes what it should,
// without an engine: a check that passes everything would prove nothing.
func TestContractCheckCatchesMismatches(t *testing.T) {
	const hook = "/event/" + tenantA + "/webhooks"
	const loc = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	webhook := `{"locator":"` + loc + `","name":"n","enabled":true,"endpoint":{"url":"https://example.com","hmacEnabled":true,` +
		`"secret":"whsec_…abcd","secureSsl":true,"tag":"","headers":{},"rateLimit":null},"failureHandling":{"alertEndpoint":null,"divert":false,` +
		`"retryStrategy":null,"suspend":false,"triggers":["4xx"]},"suspended":false,"suspendedAt":null,"eventTypes":[],"filter":null,"ordering":"none"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		answer                   string
		wantProblem              bool
	}{
		{"a documented answer", "GET", "/healthz", "", 200, `{"status":"ok"}`, false},
		{"a value outside its enum", "GET", "/healthz", "", 200, `{"status":"up"}`, true},
		{"a webhook as documented", "GET", hook + "/" + loc, "", 200, webhook, false},
		{"a member the document does not have", "GET", hook + "/" + loc, "", 200, strings.Replace(webhook, `"name"`, `"nom":1,"name"`, 1), true},
		{"a status the operation does not list", "GET", hook + "/" + loc, "", 418, `{"code":"invalid","message":"m"}`, true},
		{"an error in the other face's shape", "GET", "/v1/events", "", 400, `{"code":"invalid","message":"m"}`, true},
		{"an accepted request the document refuses", "POST", hook, `{"endpoint":{"url":"https://example.com"},"colour":"red"}`, 200, webhook, true},
		{"a refused request, its refusal documented", "POST", hook, `{"endpoint":{"url":"https://example.com"},"colour":"red"}`, 400,
			`{"code":"invalid","message":"unknown field","field":"colour"}`, false},
		{"a path outside the document", "GET", "/console/app.js", "", 200, "console.log(1)", false},
		{"a body where the document has none", "DELETE", hook + "/" + loc, "", 204, `{}`, true},
		{"a status a HEAD does not document", "HEAD", "/healthz", "", 204, "", true},
		{"a request with a body the operation does not take", "GET", "/healthz", `{}`, 200, `{"status":"ok"}`, true},
		{"a format the document asserts", "GET", "/v1/events/" + loc, "", 200,
			`{"token":"` + loc + `","created":"yesterday","event_type":"a.b","payload":{}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"application/json"}}}
			problem := checkExchange(req, []byte(tc.body), resp, []byte(tc.answer))
			if (problem != "") != tc.wantProblem {
				t.Fatalf("problem %q, want one: %v", problem, tc.wantProblem)
			}
		})
	}
}
