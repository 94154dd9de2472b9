package hookstream

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const testTenant = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// secretOf returns "whsec_" and the standard base64 of n bytes.
func secretOf(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// wantError fails unless err is a *Error with the given code and (when field is not "-") field.
func wantError(t *testing.T, err error, code ErrorCode, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s error on field %q", code, field)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *hookstream.Error", err, err)
	}
	if e.Code != code {
		t.Errorf("code = %q, want %q (error: %v)", e.Code, code, err)
	}
	if field != "-" && e.Field != field {
		t.Errorf("field = %q, want %q (error: %v)", e.Field, field, err)
	}
	if e.Message == "" {
		t.Errorf("empty message")
	}
}

// baseCreate returns a minimal valid create request.
func baseCreate() *WebhookCreate {
	return &WebhookCreate{Endpoint: &EndpointCreate{URL: "https://example.com/hooks"}}
}

// createWebhook creates and folds a webhook at seq 1.
func createWebhook(t *testing.T, req *WebhookCreate) *Webhook {
	t.Helper()
	ev, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	var w Webhook
	if err := w.Apply(ev, 1); err != nil {
		t.Fatalf("Apply created: %v", err)
	}
	return &w
}

// richWebhook has event types, headers, a retry strategy and an alert endpoint.
func richWebhook(t *testing.T) *Webhook {
	t.Helper()
	return createWebhook(t, &WebhookCreate{
		Name: "rich",
		Endpoint: &EndpointCreate{
			URL:     "https://example.com/hooks",
			Secret:  secretOf(32),
			Headers: map[string][]string{"X-Foo": {"1"}, "X-Bar": {"2", "3"}},
		},
		FailureHandling: &FailureHandlingCreate{
			AlertEndpoint: &EndpointCreate{URL: "https://alerts.example.com/", Secret: secretOf(24)},
			Divert:        true,
			Suspend:       true,
			RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 10, Type: RetryLinear},
			Triggers:      &[]string{"5xx", "timeout"},
		},
		EventTypes: []string{"a.b", "c.d"},
	})
}

// update validates req against w and folds the event into a copy of w at seq.
func update(t *testing.T, w *Webhook, seq uint64, at time.Time, req *WebhookUpdate) (*Webhook, *WebhookEvent) {
	t.Helper()
	ev, err := Policy{}.UpdateWebhook(w, "actor-2", at, req)
	if err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	next := *w
	if ev == nil {
		return &next, nil // the request changes nothing
	}
	if err := next.Apply(ev, seq); err != nil {
		t.Fatalf("Apply updated: %v", err)
	}
	return &next, ev
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCreateWebhookDefaults(t *testing.T) {
	req := &WebhookCreate{Endpoint: &EndpointCreate{URL: "https://example.com/hooks"},
		FailureHandling: &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{URL: "https://alerts.example.com/"}}}
	ev, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != WebhookCreated || ev.Tenant != testTenant || ev.Webhook != "01JPA0000000000000000000AB" ||
		ev.Actor != "actor-1" || !ev.Time.Equal(t0) || ev.Create == nil || ev.Update != nil {
		t.Fatalf("unexpected event envelope: %+v", ev)
	}
	c := ev.Create
	if !c.Enabled || !c.Endpoint.HMACEnabled || !c.Endpoint.SecureSSL {
		t.Errorf("enabled/hmacEnabled/secureSsl = %v/%v/%v, want all true", c.Enabled, c.Endpoint.HMACEnabled, c.Endpoint.SecureSSL)
	}
	for name, s := range map[string]string{"endpoint": c.Endpoint.Secret, "alert": c.FailureHandling.AlertEndpoint.Secret} {
		if err := CheckSecret("s", s); err != nil {
			t.Errorf("%s secret %q: %v", name, s, err)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if !strings.HasPrefix(s, "whsec_") || err != nil || len(raw) != 24 {
			t.Errorf("%s secret %q is not whsec_ + base64 of 24 bytes", name, s)
		}
	}
	if c.Endpoint.Secret == c.FailureHandling.AlertEndpoint.Secret {
		t.Errorf("endpoint and alert endpoint share the generated secret %q", c.Endpoint.Secret)
	}
	a := c.FailureHandling.AlertEndpoint
	if !a.HMACEnabled || !a.SecureSSL || a.URL != "https://alerts.example.com/" {
		t.Errorf("alert endpoint = %+v, want defaults and the given url", a)
	}
	if !reflect.DeepEqual(c.FailureHandling.Triggers, []string{"4xx", "5xx", "timeout"}) {
		t.Errorf("triggers = %q, want default", c.FailureHandling.Triggers)
	}
	if c.FailureHandling.RetryStrategy != nil || c.FailureHandling.Divert || c.FailureHandling.Suspend {
		t.Errorf("failure handling = %+v, want no retries, no divert, no suspend", c.FailureHandling)
	}
	if c.EventTypes == nil || len(c.EventTypes) != 0 {
		t.Errorf("eventTypes = %#v, want empty non-nil", c.EventTypes)
	}
	if got := mustJSON(t, c.EventTypes); got != "[]" {
		t.Errorf("eventTypes JSON = %s, want []", got)
	}

	// Without any failure handling at all.
	ev, err = Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AC", "a", t0, baseCreate())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.Create.FailureHandling, DefaultFailureHandling()) {
		t.Errorf("failure handling = %+v, want %+v", ev.Create.FailureHandling, DefaultFailureHandling())
	}
	if ev.Create.FailureHandling.AlertEndpoint != nil {
		t.Errorf("alert endpoint created without being asked for")
	}

	// Two creations never share a generated secret.
	ev2, _ := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AD", "a", t0, baseCreate())
	if ev2.Create.Endpoint.Secret == ev.Create.Endpoint.Secret {
		t.Errorf("two webhooks got the same generated secret")
	}
}

func TestCreateWebhookExplicitValues(t *testing.T) {
	given := secretOf(64)
	req := &WebhookCreate{
		Name:    "orders",
		Enabled: ptr(false),
		Endpoint: &EndpointCreate{URL: "https://example.com/h", HMACEnabled: ptr(false), SecureSSL: ptr(false),
			Secret: given, Tag: "t1", Headers: map[string][]string{"x-api-key": {"k"}}},
		FailureHandling: &FailureHandlingCreate{
			Divert: true, Suspend: true,
			RetryStrategy: &RetryStrategy{Attempts: 10, Interval: 86400, Type: RetryExponential},
			Triggers:      &[]string{"5xx", "timeout", "5xx", "404", "404"},
		},
		EventTypes: []string{"a.b", "c", "a.b", "c", "d.e"},
	}
	ev, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, req)
	if err != nil {
		t.Fatal(err)
	}
	c := ev.Create
	if c.Name != "orders" || c.Enabled || c.Endpoint.HMACEnabled || c.Endpoint.SecureSSL || c.Endpoint.Secret != given || c.Endpoint.Tag != "t1" {
		t.Errorf("explicit values not kept: %+v", c)
	}
	if !reflect.DeepEqual(c.Endpoint.Headers, map[string][]string{"X-Api-Key": {"k"}}) {
		t.Errorf("headers = %v, want canonical X-Api-Key", c.Endpoint.Headers)
	}
	if !reflect.DeepEqual(c.FailureHandling.Triggers, []string{"5xx", "timeout", "404"}) {
		t.Errorf("triggers = %q, want duplicates removed in order", c.FailureHandling.Triggers)
	}
	if !reflect.DeepEqual(c.EventTypes, []string{"a.b", "c", "d.e"}) {
		t.Errorf("eventTypes = %q, want duplicates removed in order", c.EventTypes)
	}
	if rs := c.FailureHandling.RetryStrategy; rs == nil || *rs != (RetryStrategy{Attempts: 10, Interval: 86400, Type: RetryExponential}) {
		t.Errorf("retry strategy = %+v", rs)
	}

	// The event owns its data: changing the request afterwards changes nothing.
	snapshot := mustJSON(t, ev)
	req.EventTypes[0] = "zzz"
	(*req.FailureHandling.Triggers)[0] = "3xx"
	req.FailureHandling.RetryStrategy.Attempts = 1
	req.Endpoint.Headers["x-api-key"][0] = "changed"
	if got := mustJSON(t, ev); got != snapshot {
		t.Errorf("event changed with the request:\n got %s\nwant %s", got, snapshot)
	}
}

func TestCreateWebhookExplicitEmptyTriggers(t *testing.T) {
	req := baseCreate()
	req.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{}}
	w := createWebhook(t, req)
	if len(w.FailureHandling.Triggers) != 0 {
		t.Fatalf("triggers = %q, want none", w.FailureHandling.Triggers)
	}
	// Still empty after a JSON round trip of the state (no default sneaking back in).
	var back Webhook
	if err := json.Unmarshal([]byte(mustJSON(t, w)), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.FailureHandling.Triggers) != 0 {
		t.Fatalf("triggers after round trip = %q", back.FailureHandling.Triggers)
	}
}

func TestCreateWebhookAcceptsValidInputs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*WebhookCreate)
	}{
		{"secret 24 bytes", func(r *WebhookCreate) { r.Endpoint.Secret = secretOf(24) }},
		{"secret 64 bytes", func(r *WebhookCreate) { r.Endpoint.Secret = secretOf(64) }},
		{"secret unpadded base64", func(r *WebhookCreate) { r.Endpoint.Secret = strings.TrimRight(secretOf(25), "=") }},
		{"url of 2048 chars", func(r *WebhookCreate) {
			r.Endpoint.URL = "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/"))
		}},
		{"public IPv4", func(r *WebhookCreate) { r.Endpoint.URL = "http://8.8.8.8/hook" }},
		{"public IPv6", func(r *WebhookCreate) { r.Endpoint.URL = "https://[2001:4860:4860::8888]:8443/hook" }},
		{"host merely containing localhost", func(r *WebhookCreate) { r.Endpoint.URL = "https://localhost.example.com/" }},
		{"port 65535", func(r *WebhookCreate) { r.Endpoint.URL = "https://example.com:65535/" }},
		{"name of 255", func(r *WebhookCreate) { r.Name = strings.Repeat("n", 255) }},
		{"event type of 255", func(r *WebhookCreate) { r.EventTypes = []string{strings.Repeat("e", 255)} }},
		{"triggers at bounds", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"300", "599", "3xx", "4xx", "5xx", "timeout"}}
		}},
		{"retry at lower bounds", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 1, Interval: 1, Type: RetryLinear}}
		}},
		{"custom header", func(r *WebhookCreate) {
			r.Endpoint.Headers = map[string][]string{"Authorization": {"Bearer x"}, "X-Webhook": {"not reserved"}}
		}},
		{"useAutomationPlugin ignored", func(r *WebhookCreate) { r.UseAutomationPlugin = ptr(true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseCreate()
			tt.mutate(req)
			if _, err := (Policy{}).CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, req); err != nil {
				t.Fatalf("CreateWebhook: %v", err)
			}
		})
	}
}

func TestCreateWebhookValidation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		tenant string
		mutate func(*WebhookCreate)
		field  string
	}{
		{"missing endpoint", "", func(r *WebhookCreate) { r.Endpoint = nil }, "endpoint"},
		{"empty url", "", func(r *WebhookCreate) { r.Endpoint.URL = "" }, "endpoint.url"},
		{"ftp url", "", func(r *WebhookCreate) { r.Endpoint.URL = "ftp://example.com/hook" }, "endpoint.url"},
		{"no scheme", "", func(r *WebhookCreate) { r.Endpoint.URL = "example.com/hook" }, "endpoint.url"},
		{"javascript url", "", func(r *WebhookCreate) { r.Endpoint.URL = "javascript:alert(1)" }, "endpoint.url"},
		{"no host", "", func(r *WebhookCreate) { r.Endpoint.URL = "http:///hook" }, "endpoint.url"},
		{"opaque no host", "", func(r *WebhookCreate) { r.Endpoint.URL = "http:example.com" }, "endpoint.url"},
		{"credentials", "", func(r *WebhookCreate) { r.Endpoint.URL = "https://user:pass@example.com/" }, "endpoint.url"},
		{"user only", "", func(r *WebhookCreate) { r.Endpoint.URL = "https://user@example.com/" }, "endpoint.url"},
		{"too long url", "", func(r *WebhookCreate) {
			r.Endpoint.URL = "https://example.com/" + long(MaxURLLength+1-len("https://example.com/"))
		}, "endpoint.url"},
		{"space in host", "", func(r *WebhookCreate) { r.Endpoint.URL = "http://exa mple.com/" }, "endpoint.url"},
		{"port 0", "", func(r *WebhookCreate) { r.Endpoint.URL = "http://example.com:0/" }, "endpoint.url"},
		{"port 70000", "", func(r *WebhookCreate) { r.Endpoint.URL = "http://example.com:70000/" }, "endpoint.url"},
		{"secret without prefix", "", func(r *WebhookCreate) { r.Endpoint.Secret = strings.TrimPrefix(secretOf(32), "whsec_") }, "endpoint.secret"},
		{"secret wrong prefix", "", func(r *WebhookCreate) { r.Endpoint.Secret = "whsek_" + secretOf(32)[6:] }, "endpoint.secret"},
		{"secret bad base64", "", func(r *WebhookCreate) { r.Endpoint.Secret = "whsec_!!!not*base64!!!" }, "endpoint.secret"},
		{"secret 10 bytes", "", func(r *WebhookCreate) { r.Endpoint.Secret = secretOf(10) }, "endpoint.secret"},
		{"secret 23 bytes", "", func(r *WebhookCreate) { r.Endpoint.Secret = secretOf(23) }, "endpoint.secret"},
		{"secret 65 bytes", "", func(r *WebhookCreate) { r.Endpoint.Secret = secretOf(65) }, "endpoint.secret"},
		{"secret only prefix", "", func(r *WebhookCreate) { r.Endpoint.Secret = "whsec_" }, "endpoint.secret"},
		{"reserved content-type", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"content-type": {"x"}} }, "endpoint.headers.content-type"},
		{"reserved Content-Length", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"Content-Length": {"1"}} }, "endpoint.headers.Content-Length"},
		{"reserved host", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"host": {"x"}} }, "endpoint.headers.host"},
		{"reserved user-agent", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"user-agent": {"x"}} }, "endpoint.headers.user-agent"},
		{"reserved webhook-id", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"webhook-id": {"x"}} }, "endpoint.headers.webhook-id"},
		{"reserved Webhook-Signature", "", func(r *WebhookCreate) {
			r.Endpoint.Headers = map[string][]string{"Webhook-Signature": {"v1,x"}}
		}, "endpoint.headers.Webhook-Signature"},
		{"header value CR LF", "", func(r *WebhookCreate) {
			r.Endpoint.Headers = map[string][]string{"X-A": {"ok", "a\r\nX-Injected: 1"}}
		}, "endpoint.headers.X-A"},
		{"header value LF", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X-A": {"a\nb"}} }, "endpoint.headers.X-A"},
		{"header value CR", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X-A": {"a\rb"}} }, "endpoint.headers.X-A"},
		{"header value NUL", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X-A": {"a\x00b"}} }, "endpoint.headers.X-A"},
		{"header values too big", "", func(r *WebhookCreate) {
			r.Endpoint.Headers = map[string][]string{"X-A": {long(MaxHeaderValueBytes), "b"}}
		}, "endpoint.headers.X-A"},
		{"header name with space", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X A": {"1"}} }, "endpoint.headers.X A"},
		{"header name with colon", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X:A": {"1"}} }, "endpoint.headers.X:A"},
		{"empty header name", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"": {"1"}} }, "endpoint.headers."},
		{"non-ASCII header name", "", func(r *WebhookCreate) { r.Endpoint.Headers = map[string][]string{"X-Ünï": {"1"}} }, "endpoint.headers.X-Ünï"},
		{"too many headers", "", func(r *WebhookCreate) {
			r.Endpoint.Headers = map[string][]string{}
			for i := range MaxHeaders + 1 {
				r.Endpoint.Headers["X-H"+strings.Repeat("x", i)] = []string{"1"}
			}
		}, "endpoint.headers"},
		{"trigger 600", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"4xx", "600"}}
		}, "failureHandling.triggers[1]"},
		{"trigger 299", "", func(r *WebhookCreate) { r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"299"}} }, "failureHandling.triggers[0]"},
		{"trigger 4XX", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"5xx", "timeout", "4XX"}}
		}, "failureHandling.triggers[2]"},
		{"trigger empty", "", func(r *WebhookCreate) { r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{""}} }, "failureHandling.triggers[0]"},
		{"trigger +30", "", func(r *WebhookCreate) { r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"+30"}} }, "failureHandling.triggers[0]"},
		{"trigger 2xx", "", func(r *WebhookCreate) { r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"2xx"}} }, "failureHandling.triggers[0]"},
		{"trigger Timeout", "", func(r *WebhookCreate) { r.FailureHandling = &FailureHandlingCreate{Triggers: &[]string{"Timeout"}} }, "failureHandling.triggers[0]"},
		{"retry attempts 0", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 0, Interval: 5, Type: RetryLinear}}
		}, "failureHandling.retryStrategy.attempts"},
		{"retry attempts 11", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 11, Interval: 5, Type: RetryLinear}}
		}, "failureHandling.retryStrategy.attempts"},
		{"retry attempts negative", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: -1, Interval: 5, Type: RetryLinear}}
		}, "failureHandling.retryStrategy.attempts"},
		{"retry interval 0", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 0, Type: RetryLinear}}
		}, "failureHandling.retryStrategy.interval"},
		{"retry interval 86401", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 86401, Type: RetryExponential}}
		}, "failureHandling.retryStrategy.interval"},
		{"retry type cubic", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 5, Type: "cubic"}}
		}, "failureHandling.retryStrategy.type"},
		{"retry type Linear", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 5, Type: "Linear"}}
		}, "failureHandling.retryStrategy.type"},
		{"retry type missing", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 5}}
		}, "failureHandling.retryStrategy.type"},
		{"alert endpoint without url", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{}}
		}, "failureHandling.alertEndpoint.url"},
		{"alert endpoint private", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{URL: "http://10.1.2.3/"}}
		}, "failureHandling.alertEndpoint.url"},
		{"alert endpoint bad secret", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{URL: "https://a.example/", Secret: secretOf(8)}}
		}, "failureHandling.alertEndpoint.secret"},
		{"alert endpoint reserved header", "", func(r *WebhookCreate) {
			r.FailureHandling = &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{URL: "https://a.example/",
				Headers: map[string][]string{"Host": {"x"}}}}
		}, "failureHandling.alertEndpoint.headers.Host"},
		{"event type empty", "", func(r *WebhookCreate) { r.EventTypes = []string{"ok", ""} }, "eventTypes[1]"},
		{"event type a..b", "", func(r *WebhookCreate) { r.EventTypes = []string{"a..b"} }, "eventTypes[0]"},
		{"event type .a", "", func(r *WebhookCreate) { r.EventTypes = []string{"x", "y", ".a"} }, "eventTypes[2]"},
		{"event type a.", "", func(r *WebhookCreate) { r.EventTypes = []string{"a."} }, "eventTypes[0]"},
		{"event type a b", "", func(r *WebhookCreate) { r.EventTypes = []string{"a b"} }, "eventTypes[0]"},
		{"event type wildcard", "", func(r *WebhookCreate) { r.EventTypes = []string{"a.*"} }, "eventTypes[0]"},
		{"event type 256", "", func(r *WebhookCreate) { r.EventTypes = []string{long(256)} }, "eventTypes[0]"},
		{"too many event types", "", func(r *WebhookCreate) {
			for i := range MaxEventTypes + 1 {
				r.EventTypes = append(r.EventTypes, "t"+strings.Repeat("x", i%200)+"."+string(rune('a'+i%26)))
			}
		}, "eventTypes"},
		{"name 256", "", func(r *WebhookCreate) { r.Name = long(256) }, "name"},
		{"tag 256", "", func(r *WebhookCreate) { r.Endpoint.Tag = long(256) }, "endpoint.tag"},
		{"tenant not a uuid", "tenant-1", func(*WebhookCreate) {}, "tenantLocator"},
		{"tenant without dashes", "6f1c5f3e0d7e4c559a362a3f1b2c9d10", func(*WebhookCreate) {}, "tenantLocator"},
		{"tenant in braces", "{6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10}", func(*WebhookCreate) {}, "tenantLocator"},
		{"tenant empty", "-empty-", func(*WebhookCreate) {}, "tenantLocator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseCreate()
			tt.mutate(req)
			tenant := testTenant
			switch tt.tenant {
			case "":
			case "-empty-":
				tenant = ""
			default:
				tenant = tt.tenant
			}
			ev, err := Policy{}.CreateWebhook(tenant, "01JPA0000000000000000000AB", "a", t0, req)
			wantError(t, err, CodeInvalid, tt.field)
			if ev != nil {
				t.Errorf("got an event with the error: %+v", ev)
			}
		})
	}
}

func TestCreateWebhookPrivateDestinations(t *testing.T) {
	urls := []string{
		"http://127.0.0.1/",
		"http://127.1.2.3:8080/x",
		"http://10.0.0.1/",
		"http://172.16.5.4/",
		"http://192.168.1.1:8443/hook",
		"http://169.254.169.254/latest/meta-data",
		"http://100.64.0.1/",
		"http://0.0.0.0/",
		"http://0.1.2.3/",
		"http://224.0.0.1/",
		"http://255.255.255.255/",
		"http://[::1]/",
		"https://[::1]:8443/hook",
		"http://[::]/",
		"http://[fe80::1]/",
		"http://[fe80::1%25eth0]/",
		"http://[fc00::1]/",
		"http://[fd12:3456::1]/",
		"http://[ff02::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:10.0.0.1]/",
		"http://[::ffff:100.64.0.1]/",
		"http://[::ffff:255.255.255.255]/",
		"http://localhost/",
		"http://localhost:3000/hook",
		"http://LOCALHOST/",
		"http://localhost./",
		"http://api.localhost/",
		"http://127.0.0.1./",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			req := baseCreate()
			req.Endpoint.URL = u
			_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, req)
			wantError(t, err, CodeInvalid, "endpoint.url")

			ev, err := Policy{AllowPrivateDestinations: true}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, req)
			if err != nil {
				t.Fatalf("with AllowPrivateDestinations: %v", err)
			}
			if ev.Create.Endpoint.URL != u {
				t.Errorf("url = %q, want %q", ev.Create.Endpoint.URL, u)
			}

			// The same rule holds when an update names the address.
			w := createWebhook(t, baseCreate())
			_, err = Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{Endpoint: &EndpointUpdate{URL: ptr(u)}})
			wantError(t, err, CodeInvalid, "endpoint.url")
			if _, err := (Policy{AllowPrivateDestinations: true}).UpdateWebhook(w, "a", t0, &WebhookUpdate{Endpoint: &EndpointUpdate{URL: ptr(u)}}); err != nil {
				t.Errorf("update with AllowPrivateDestinations: %v", err)
			}
		})
	}
}

func TestUpdateWebhookAbsentFieldsUntouched(t *testing.T) {
	w := richWebhook(t)
	before := mustJSON(t, w.WebhookConfig)
	next, ev := update(t, w, 7, t0.Add(time.Hour), &WebhookUpdate{})
	if got := mustJSON(t, next.WebhookConfig); got != before || ev != nil {
		t.Errorf("empty update changed the config or made an event (%v):\n got %s\nwant %s", ev, got, before)
	}
	next, ev = update(t, w, 7, t0.Add(time.Hour), &WebhookUpdate{Name: ptr("other")})
	if next.Version != 7 || next.CreatedSeq != 1 || !next.UpdatedAt.Equal(t0.Add(time.Hour)) || !next.CreatedAt.Equal(t0) {
		t.Errorf("version/createdSeq/updatedAt/createdAt = %d/%d/%v/%v", next.Version, next.CreatedSeq, next.UpdatedAt, next.CreatedAt)
	}
	if ev.Type != WebhookUpdated || ev.Actor != "actor-2" || ev.Webhook != w.Locator || ev.Tenant != w.Tenant {
		t.Errorf("event envelope = %+v", ev)
	}

	// A name change changes the name only.
	next, _ = update(t, w, 8, t0, &WebhookUpdate{Name: ptr("renamed")})
	want := w.WebhookConfig.clone()
	want.Name = "renamed"
	if got := mustJSON(t, next.WebhookConfig); got != mustJSON(t, want) {
		t.Errorf("name update:\n got %s\nwant %s", got, mustJSON(t, want))
	}

	// Enabled false, then only a tag change keeps it false.
	next, _ = update(t, w, 9, t0, &WebhookUpdate{Enabled: ptr(false)})
	if next.Enabled || next.Active() {
		t.Errorf("enabled=false not applied")
	}
	next, _ = update(t, next, 10, t0, &WebhookUpdate{Endpoint: &EndpointUpdate{Tag: ptr("x")}})
	if next.Enabled || next.Endpoint.Tag != "x" || next.Endpoint.URL != w.Endpoint.URL || next.Endpoint.Secret != w.Endpoint.Secret {
		t.Errorf("tag update touched other fields: %+v", next.Endpoint)
	}
}

func TestUpdateWebhookRemovalsBeforeAdditions(t *testing.T) {
	w := richWebhook(t)
	tests := []struct {
		name  string
		req   *WebhookUpdate
		check func(t *testing.T, n *Webhook)
	}{
		{"event type removed and added stays", &WebhookUpdate{RemoveEventTypes: []string{"a.b"}, AddEventTypes: []string{"a.b", "e.f"}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.EventTypes, []string{"c.d", "a.b", "e.f"}) {
					t.Errorf("eventTypes = %q", n.EventTypes)
				}
			}},
		{"event type removed", &WebhookUpdate{RemoveEventTypes: []string{"c.d", "not.there"}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.EventTypes, []string{"a.b"}) {
					t.Errorf("eventTypes = %q", n.EventTypes)
				}
			}},
		{"all event types removed means all", &WebhookUpdate{RemoveEventTypes: []string{"c.d", "a.b"}},
			func(t *testing.T, n *Webhook) {
				if len(n.EventTypes) != 0 || !n.Receives("anything.at.all") {
					t.Errorf("eventTypes = %q", n.EventTypes)
				}
			}},
		{"event type added twice once", &WebhookUpdate{AddEventTypes: []string{"c.d", "x", "x"}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.EventTypes, []string{"a.b", "c.d", "x"}) {
					t.Errorf("eventTypes = %q", n.EventTypes)
				}
			}},
		{"trigger removed and added stays", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
			RemoveTriggers: []string{"5xx"}, AddTriggers: []string{"5xx", "404"}}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.FailureHandling.Triggers, []string{"timeout", "5xx", "404"}) {
					t.Errorf("triggers = %q", n.FailureHandling.Triggers)
				}
			}},
		{"trigger removed", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{RemoveTriggers: []string{"timeout"}}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.FailureHandling.Triggers, []string{"5xx"}) {
					t.Errorf("triggers = %q", n.FailureHandling.Triggers)
				}
			}},
		{"header removed and added stays", &WebhookUpdate{Endpoint: &EndpointUpdate{
			RemoveHeaders: []string{"x-foo"}, AddHeaders: map[string][]string{"x-foo": {"new"}}}},
			func(t *testing.T, n *Webhook) {
				want := map[string][]string{"X-Foo": {"new"}, "X-Bar": {"2", "3"}}
				if !reflect.DeepEqual(n.Endpoint.Headers, want) {
					t.Errorf("headers = %v, want %v", n.Endpoint.Headers, want)
				}
			}},
		{"removeHeaders is case-insensitive", &WebhookUpdate{Endpoint: &EndpointUpdate{RemoveHeaders: []string{"X-FOO"}}},
			func(t *testing.T, n *Webhook) {
				want := map[string][]string{"X-Bar": {"2", "3"}}
				if !reflect.DeepEqual(n.Endpoint.Headers, want) {
					t.Errorf("headers = %v, want %v", n.Endpoint.Headers, want)
				}
			}},
		{"removing every header", &WebhookUpdate{Endpoint: &EndpointUpdate{RemoveHeaders: []string{"x-bar", "x-FOO"}}},
			func(t *testing.T, n *Webhook) {
				if len(n.Endpoint.Headers) != 0 {
					t.Errorf("headers = %v, want none", n.Endpoint.Headers)
				}
			}},
		{"added headers are canonicalized and replace", &WebhookUpdate{Endpoint: &EndpointUpdate{
			AddHeaders: map[string][]string{"x-new-header": {"v"}, "x-bar": {"9"}}}},
			func(t *testing.T, n *Webhook) {
				want := map[string][]string{"X-Foo": {"1"}, "X-Bar": {"9"}, "X-New-Header": {"v"}}
				if !reflect.DeepEqual(n.Endpoint.Headers, want) {
					t.Errorf("headers = %v, want %v", n.Endpoint.Headers, want)
				}
			}},
		{"alert endpoint headers", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{
			AddHeaders: map[string][]string{"x-alert": {"1"}}}}},
			func(t *testing.T, n *Webhook) {
				if !reflect.DeepEqual(n.FailureHandling.AlertEndpoint.Headers, map[string][]string{"X-Alert": {"1"}}) {
					t.Errorf("alert headers = %v", n.FailureHandling.AlertEndpoint.Headers)
				}
				if n.FailureHandling.AlertEndpoint.URL != "https://alerts.example.com/" || n.FailureHandling.AlertEndpoint.Secret != secretOf(24) {
					t.Errorf("alert endpoint lost its url or secret: %+v", n.FailureHandling.AlertEndpoint)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := update(t, w, 2, t0, tt.req)
			tt.check(t, n)
		})
	}
}

func TestDuplicateHeaderNamesAreDeterministic(t *testing.T) {
	// Names that canonicalize to the same header: either the request is refused, or the outcome is always
	// the same (a replay must rebuild exactly what the command side saw, and a client must get what it asked).
	dup := func() map[string][]string {
		return map[string][]string{"x-dup": {"lower"}, "X-Dup": {"canonical"}, "X-DUP": {"upper"}, "x-DuP": {"mixed"}}
	}
	const bug = "bug: webhook_commands.go addHeaders (line 555) copies a map whose names are equal up to case " +
		"into one canonical key in map iteration order, so which value wins is random; want 400 or a deterministic result. Seen: "

	t.Run("update fold", func(t *testing.T) {
		w := createWebhook(t, baseCreate())
		ev, err := Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: dup()}})
		if err != nil {
			wantError(t, err, CodeInvalid, "-")
			return
		}
		seen := map[string]bool{}
		for range 64 {
			n := *w
			if err := n.Apply(ev, 2); err != nil {
				t.Fatal(err)
			}
			seen[mustJSON(t, n.Endpoint.Headers)] = true
		}
		if len(seen) > 1 {
			t.Fatal(bug + strings.Join(slices.Sorted(maps.Keys(seen)), " | "))
		}
	})
	t.Run("create", func(t *testing.T) {
		seen := map[string]bool{}
		for range 64 {
			req := baseCreate()
			req.Endpoint.Headers = dup()
			ev, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, req)
			if err != nil {
				wantError(t, err, CodeInvalid, "-")
				return
			}
			seen[mustJSON(t, ev.Create.Endpoint.Headers)] = true
		}
		if len(seen) > 1 {
			t.Fatal(bug + strings.Join(slices.Sorted(maps.Keys(seen)), " | "))
		}
	})
}

func TestUpdateWebhookRemoveFailureHandling(t *testing.T) {
	w := richWebhook(t)
	n, _ := update(t, w, 2, t0, &WebhookUpdate{RemoveFailureHandling: true})
	if !reflect.DeepEqual(n.FailureHandling, DefaultFailureHandling()) {
		t.Errorf("failure handling = %+v, want default", n.FailureHandling)
	}
	if w.FailureHandling.RetryStrategy == nil || w.FailureHandling.AlertEndpoint == nil {
		t.Fatalf("the original state lost its failure handling")
	}

	// Changes in the same request apply on top of the default.
	n, _ = update(t, w, 3, t0, &WebhookUpdate{RemoveFailureHandling: true, FailureHandling: &FailureHandlingUpdate{
		AddTriggers: []string{"404"}, RemoveTriggers: []string{"timeout"}, Divert: ptr(true),
		RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(2), Interval: ptr(30), Type: ptr(RetryExponential)},
	}})
	fh := n.FailureHandling
	if !reflect.DeepEqual(fh.Triggers, []string{"4xx", "5xx", "404"}) || !fh.Divert || fh.Suspend || fh.AlertEndpoint != nil {
		t.Errorf("failure handling = %+v", fh)
	}
	if fh.RetryStrategy == nil || *fh.RetryStrategy != (RetryStrategy{Attempts: 2, Interval: 30, Type: RetryExponential}) {
		t.Errorf("retry strategy = %+v", fh.RetryStrategy)
	}

	// Validation uses the default as its base: the old strategy is gone, so a partial one is not enough.
	_, err := Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{RemoveFailureHandling: true,
		FailureHandling: &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(4)}}})
	wantError(t, err, CodeInvalid, "failureHandling.retryStrategy.interval")

	// ... and the old alert endpoint is gone, so one without a url cannot be created.
	_, err = Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{RemoveFailureHandling: true,
		FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{Tag: ptr("x")}}})
	wantError(t, err, CodeInvalid, "failureHandling.alertEndpoint.url")
}

func TestUpdateWebhookRetryStrategy(t *testing.T) {
	rich := richWebhook(t) // linear, 3 attempts, 10 s
	plain := createWebhook(t, baseCreate())

	t.Run("partial update merges", func(t *testing.T) {
		n, _ := update(t, rich, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
			RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(5)}}})
		if *n.FailureHandling.RetryStrategy != (RetryStrategy{Attempts: 5, Interval: 10, Type: RetryLinear}) {
			t.Errorf("retry strategy = %+v", n.FailureHandling.RetryStrategy)
		}
		n, _ = update(t, n, 3, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
			RetryStrategy: &RetryStrategyUpdate{Type: ptr(RetryExponential)}}})
		if *n.FailureHandling.RetryStrategy != (RetryStrategy{Attempts: 5, Interval: 10, Type: RetryExponential}) {
			t.Errorf("retry strategy = %+v", n.FailureHandling.RetryStrategy)
		}
		if *rich.FailureHandling.RetryStrategy != (RetryStrategy{Attempts: 3, Interval: 10, Type: RetryLinear}) {
			t.Errorf("original state changed: %+v", rich.FailureHandling.RetryStrategy)
		}
	})
	t.Run("remove", func(t *testing.T) {
		n, _ := update(t, rich, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{RemoveRetryStrategy: true}})
		if n.FailureHandling.RetryStrategy != nil {
			t.Errorf("retry strategy = %+v, want none", n.FailureHandling.RetryStrategy)
		}
		if !n.FailureHandling.Divert || !n.FailureHandling.Suspend || n.FailureHandling.AlertEndpoint == nil {
			t.Errorf("removeRetryStrategy touched the rest: %+v", n.FailureHandling)
		}
	})
	t.Run("new complete strategy", func(t *testing.T) {
		n, _ := update(t, plain, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
			RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(1), Interval: ptr(86400), Type: ptr(RetryLinear)}}})
		if *n.FailureHandling.RetryStrategy != (RetryStrategy{Attempts: 1, Interval: 86400, Type: RetryLinear}) {
			t.Errorf("retry strategy = %+v", n.FailureHandling.RetryStrategy)
		}
		// The rest of the failure handling stays the default.
		if !reflect.DeepEqual(n.FailureHandling.Triggers, DefaultTriggers()) {
			t.Errorf("triggers = %q", n.FailureHandling.Triggers)
		}
	})

	invalid := []struct {
		name  string
		w     *Webhook
		fh    *FailureHandlingUpdate
		field string
	}{
		{"new without interval", plain, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(3), Type: ptr(RetryLinear)}}, "failureHandling.retryStrategy.interval"},
		{"new without attempts", plain, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Interval: ptr(5), Type: ptr(RetryLinear)}}, "failureHandling.retryStrategy.attempts"},
		{"new without type", plain, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(3), Interval: ptr(5)}}, "failureHandling.retryStrategy.type"},
		{"new empty", plain, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{}}, "failureHandling.retryStrategy.attempts"},
		{"removed then partial", rich, &FailureHandlingUpdate{RemoveRetryStrategy: true,
			RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(3), Interval: ptr(5)}}, "failureHandling.retryStrategy.type"},
		{"merge attempts 11", rich, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(11)}}, "failureHandling.retryStrategy.attempts"},
		{"merge attempts 0", rich, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(0)}}, "failureHandling.retryStrategy.attempts"},
		{"merge interval 0", rich, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Interval: ptr(0)}}, "failureHandling.retryStrategy.interval"},
		{"merge interval 86401", rich, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Interval: ptr(86401)}}, "failureHandling.retryStrategy.interval"},
		{"merge type cubic", rich, &FailureHandlingUpdate{RetryStrategy: &RetryStrategyUpdate{Type: ptr("cubic")}}, "failureHandling.retryStrategy.type"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Policy{}.UpdateWebhook(tt.w, "a", t0, &WebhookUpdate{FailureHandling: tt.fh})
			wantError(t, err, CodeInvalid, tt.field)
			if ev != nil {
				t.Errorf("event returned with the error")
			}
		})
	}
}

func TestUpdateWebhookNewAlertEndpoint(t *testing.T) {
	plain := createWebhook(t, baseCreate())

	_, err := Policy{}.UpdateWebhook(plain, "a", t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		AlertEndpoint: &EndpointUpdate{Tag: ptr("no url")}}})
	wantError(t, err, CodeInvalid, "failureHandling.alertEndpoint.url")

	req := &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		AlertEndpoint: &EndpointUpdate{URL: ptr("https://alerts.example.com/x")}}}
	ev, err := Policy{}.UpdateWebhook(plain, "a", t0, req)
	if err != nil {
		t.Fatal(err)
	}
	if req.FailureHandling.AlertEndpoint.Secret != nil {
		t.Errorf("UpdateWebhook wrote the generated secret into the caller's request")
	}
	es := ev.Update.FailureHandling.AlertEndpoint.Secret
	if es == nil {
		t.Fatalf("the event does not carry the generated alert endpoint secret")
	}
	if err := CheckSecret("s", *es); err != nil {
		t.Errorf("generated secret %q: %v", *es, err)
	}
	if *es == plain.Endpoint.Secret {
		t.Errorf("alert endpoint reuses the endpoint secret")
	}

	// Folding the same event twice, and after a JSON round trip (a replay), gives the same secret.
	var replayed WebhookEvent
	if err := json.Unmarshal([]byte(mustJSON(t, ev)), &replayed); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range []*WebhookEvent{ev, ev, &replayed} {
		n := *plain
		if err := n.Apply(e, 2); err != nil {
			t.Fatal(err)
		}
		a := n.FailureHandling.AlertEndpoint
		if a == nil {
			t.Fatalf("no alert endpoint after the fold")
		}
		if a.URL != "https://alerts.example.com/x" || !a.HMACEnabled || !a.SecureSSL || a.PreviousSecret != "" {
			t.Errorf("alert endpoint = %+v", a)
		}
		got = append(got, a.Secret)
	}
	if got[0] != *es || got[1] != *es || got[2] != *es {
		t.Errorf("alert secrets over folds = %q, want %q each time", got, *es)
	}

	// A given secret is kept and validated.
	_, err = Policy{}.UpdateWebhook(plain, "a", t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		AlertEndpoint: &EndpointUpdate{URL: ptr("https://alerts.example.com/"), Secret: ptr("whsec_short")}}})
	wantError(t, err, CodeInvalid, "failureHandling.alertEndpoint.secret")
	given := secretOf(40)
	n, _ := update(t, plain, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		AlertEndpoint: &EndpointUpdate{URL: ptr("https://alerts.example.com/"), Secret: ptr(given), HMACEnabled: ptr(false)}}})
	if a := n.FailureHandling.AlertEndpoint; a.Secret != given || a.PreviousSecret != "" || a.HMACEnabled {
		t.Errorf("alert endpoint = %+v, want the given secret, no previous one, hmac off", a)
	}

	// Replacing an existing alert endpoint (remove + new) also gets a fresh secret and needs a url.
	rich := richWebhook(t)
	_, err = Policy{}.UpdateWebhook(rich, "a", t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		RemoveAlertEndpoint: true, AlertEndpoint: &EndpointUpdate{Tag: ptr("x")}}})
	wantError(t, err, CodeInvalid, "failureHandling.alertEndpoint.url")
	n, ev = update(t, rich, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		RemoveAlertEndpoint: true, AlertEndpoint: &EndpointUpdate{URL: ptr("https://other.example.com/")}}})
	if a := n.FailureHandling.AlertEndpoint; a.Secret == secretOf(24) || a.Secret != *ev.Update.FailureHandling.AlertEndpoint.Secret || a.PreviousSecret != "" {
		t.Errorf("replaced alert endpoint = %+v", a)
	}
	// Updating an existing alert endpoint without a url is fine and generates nothing.
	_, ev = update(t, rich, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
		AlertEndpoint: &EndpointUpdate{Tag: ptr("t")}}})
	if ev.Update.FailureHandling.AlertEndpoint.Secret != nil {
		t.Errorf("a secret was generated for an existing alert endpoint")
	}
	// removeAlertEndpoint alone.
	n, _ = update(t, rich, 2, t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{RemoveAlertEndpoint: true}})
	if n.FailureHandling.AlertEndpoint != nil || n.FailureHandling.RetryStrategy == nil {
		t.Errorf("failure handling = %+v", n.FailureHandling)
	}
}

func TestUpdateWebhookSecretGrace(t *testing.T) {
	w := richWebhook(t)
	old := w.Endpoint.Secret
	fresh := secretOf(48)
	at := t0.Add(2 * time.Hour)
	n, _ := update(t, w, 2, at, &WebhookUpdate{Endpoint: &EndpointUpdate{Secret: ptr(fresh)}})
	if n.Endpoint.Secret != fresh || n.Endpoint.PreviousSecret != old || n.Endpoint.PreviousSecretUntil == nil ||
		!n.Endpoint.PreviousSecretUntil.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("endpoint after secret change = %+v", n.Endpoint)
	}
	tests := []struct {
		now  time.Time
		want []string
	}{
		{at, []string{fresh, old}},
		{at.Add(24*time.Hour - time.Nanosecond), []string{fresh, old}},
		{at.Add(24 * time.Hour), []string{fresh}},
		{at.Add(48 * time.Hour), []string{fresh}},
	}
	for _, tt := range tests {
		if got := n.Endpoint.Secrets(tt.now); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Secrets(at+%v) = %q, want %q", tt.now.Sub(at), got, tt.want)
		}
	}
	if got := w.Endpoint.Secrets(at); !reflect.DeepEqual(got, []string{old}) {
		t.Errorf("original Secrets = %q, want only the old secret", got)
	}

	// Setting the same secret again is no rotation.
	n2, _ := update(t, w, 2, at, &WebhookUpdate{Endpoint: &EndpointUpdate{Secret: ptr(old)}})
	if n2.Endpoint.PreviousSecret != "" || n2.Endpoint.PreviousSecretUntil != nil {
		t.Errorf("re-setting the same secret made a previous secret: %+v", n2.Endpoint)
	}

	// The alert endpoint secret gets the same grace.
	n3, _ := update(t, w, 3, at, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{Secret: ptr(fresh)}}})
	if got := n3.FailureHandling.AlertEndpoint.Secrets(at.Add(time.Hour)); !reflect.DeepEqual(got, []string{fresh, secretOf(24)}) {
		t.Errorf("alert Secrets = %q", got)
	}
	if n3.Endpoint.Secret != old || n3.Endpoint.PreviousSecret != "" {
		t.Errorf("alert secret change touched the endpoint secret: %+v", n3.Endpoint)
	}
}

func TestUpdateWebhookValidation(t *testing.T) {
	w := richWebhook(t)
	manyHeaders := map[string][]string{}
	for i := range MaxHeaders - 1 {
		manyHeaders["X-Many-"+strings.Repeat("m", i+1)] = []string{"v"}
	}
	tests := []struct {
		name  string
		req   *WebhookUpdate
		field string
	}{
		{"name 256", &WebhookUpdate{Name: ptr(strings.Repeat("n", 256))}, "name"},
		{"ftp url", &WebhookUpdate{Endpoint: &EndpointUpdate{URL: ptr("ftp://example.com/")}}, "endpoint.url"},
		{"empty url", &WebhookUpdate{Endpoint: &EndpointUpdate{URL: ptr("")}}, "endpoint.url"},
		{"credentials url", &WebhookUpdate{Endpoint: &EndpointUpdate{URL: ptr("https://u:p@example.com/")}}, "endpoint.url"},
		{"bad secret", &WebhookUpdate{Endpoint: &EndpointUpdate{Secret: ptr(secretOf(10))}}, "endpoint.secret"},
		{"empty secret", &WebhookUpdate{Endpoint: &EndpointUpdate{Secret: ptr("")}}, "endpoint.secret"},
		{"tag 256", &WebhookUpdate{Endpoint: &EndpointUpdate{Tag: ptr(strings.Repeat("t", 256))}}, "endpoint.tag"},
		{"reserved header", &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: map[string][]string{"host": {"x"}}}}, "endpoint.addHeaders.host"},
		{"reserved webhook-timestamp", &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: map[string][]string{"Webhook-Timestamp": {"1"}}}}, "endpoint.addHeaders.Webhook-Timestamp"},
		{"header LF", &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: map[string][]string{"X-A": {"a\nb"}}}}, "endpoint.addHeaders.X-A"},
		{"bad header name", &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: map[string][]string{"X(A)": {"1"}}}}, "endpoint.addHeaders.X(A)"},
		{"bad remove header", &WebhookUpdate{Endpoint: &EndpointUpdate{RemoveHeaders: []string{"X-Foo", "bad name"}}}, "endpoint.removeHeaders[1]"},
		{"too many headers after merge", &WebhookUpdate{Endpoint: &EndpointUpdate{AddHeaders: manyHeaders}}, "endpoint.addHeaders"},
		{"bad add event type", &WebhookUpdate{AddEventTypes: []string{"ok", "a..b"}}, "addEventTypes[1]"},
		{"bad remove event type", &WebhookUpdate{RemoveEventTypes: []string{"a b"}}, "removeEventTypes[0]"},
		{"bad add trigger", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AddTriggers: []string{"600"}}}, "failureHandling.addTriggers[0]"},
		{"bad remove trigger", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{RemoveTriggers: []string{"4xx", "4XX"}}}, "failureHandling.removeTriggers[1]"},
		{"alert reserved header", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{
			AddHeaders: map[string][]string{"webhook-id": {"x"}}}}}, "failureHandling.alertEndpoint.addHeaders.webhook-id"},
		{"alert private url", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{
			URL: ptr("http://[::1]/")}}}, "failureHandling.alertEndpoint.url"},
		{"alert bad secret", &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{
			Secret: ptr("nope")}}}, "failureHandling.alertEndpoint.secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustJSON(t, w)
			ev, err := Policy{}.UpdateWebhook(w, "a", t0, tt.req)
			wantError(t, err, CodeInvalid, tt.field)
			if ev != nil {
				t.Errorf("event returned with the error")
			}
			if mustJSON(t, w) != before {
				t.Errorf("a refused update changed the webhook")
			}
		})
	}
}

func TestUpdateWebhookDeleted(t *testing.T) {
	w := createWebhook(t, baseCreate())
	del, err := DeleteWebhook(w, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(del, 2); err != nil {
		t.Fatal(err)
	}
	_, err = Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{Name: ptr("x")})
	wantError(t, err, CodeNotFound, "-")
	_, err = Policy{}.RotateSecret(w, "a", t0)
	wantError(t, err, CodeNotFound, "-")
	_, err = DeleteWebhook(w, "a", t0)
	wantError(t, err, CodeNotFound, "-")
	_, err = Unsuspend(w, "a", t0)
	wantError(t, err, CodeNotFound, "-")
	if ev := Suspend(w, "r", t0); ev != nil {
		t.Errorf("Suspend of a deleted webhook = %+v, want nil", ev)
	}
}

func TestApplyLifecycle(t *testing.T) {
	p := Policy{}
	times := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute), t0.Add(4 * time.Minute), t0.Add(5 * time.Minute)}
	var w Webhook
	step := func(name string, ev *WebhookEvent, err error, seq uint64) {
		t.Helper()
		if err != nil || ev == nil {
			t.Fatalf("%s: event %v, error %v", name, ev, err)
		}
		if err := w.Apply(ev, seq); err != nil {
			t.Fatalf("%s: Apply: %v", name, err)
		}
		if w.Version != seq || w.CreatedSeq != 5 || !w.UpdatedAt.Equal(ev.Time) || !w.CreatedAt.Equal(t0) {
			t.Fatalf("%s: version/createdSeq/updatedAt/createdAt = %d/%d/%v/%v", name, w.Version, w.CreatedSeq, w.UpdatedAt, w.CreatedAt)
		}
	}

	ev, err := p.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor", times[0], baseCreate())
	step("created", ev, err, 5)
	if w.Locator != "01JPA0000000000000000000AB" || w.Tenant != testTenant || !w.Active() || w.Suspended || w.Deleted {
		t.Fatalf("after create: %+v", w)
	}
	secret0 := w.Endpoint.Secret

	ev, err = p.UpdateWebhook(&w, "actor", times[1], &WebhookUpdate{Name: ptr("n"), AddEventTypes: []string{"a.b"}})
	step("updated", ev, err, 9)
	if w.Name != "n" || !reflect.DeepEqual(w.EventTypes, []string{"a.b"}) {
		t.Fatalf("after update: %+v", w.WebhookConfig)
	}

	ev = Suspend(&w, "final failure", times[2])
	if ev == nil || ev.Actor != ActorSystem || ev.Reason != "final failure" || ev.Type != WebhookSuspended {
		t.Fatalf("Suspend event = %+v", ev)
	}
	step("suspended", ev, nil, 12)
	if !w.Suspended || w.SuspendedAt == nil || !w.SuspendedAt.Equal(times[2]) || w.Active() {
		t.Fatalf("after suspend: suspended=%v at=%v active=%v", w.Suspended, w.SuspendedAt, w.Active())
	}
	if again := Suspend(&w, "again", times[3]); again != nil {
		t.Fatalf("Suspend of a suspended webhook = %+v, want nil", again)
	}

	ev, err = Unsuspend(&w, "actor", times[3])
	step("unsuspended", ev, err, 13)
	if w.Suspended || w.SuspendedAt != nil || !w.Active() {
		t.Fatalf("after unsuspend: %+v", w)
	}
	if ev, err := Unsuspend(&w, "actor", times[3]); ev != nil || err != nil {
		t.Fatalf("Unsuspend of an active webhook = (%v, %v), want (nil, nil)", ev, err)
	}

	ev, err = p.RotateSecret(&w, "actor", times[4])
	if err == nil && (ev.Secret == "" || ev.Secret == secret0 || CheckSecret("s", ev.Secret) != nil) {
		t.Fatalf("rotate event secret = %q", ev.Secret)
	}
	step("secret_rotated", ev, err, 20)
	if w.Endpoint.Secret != ev.Secret || w.Endpoint.PreviousSecret != secret0 ||
		!reflect.DeepEqual(w.Endpoint.Secrets(times[4].Add(time.Hour)), []string{ev.Secret, secret0}) ||
		!reflect.DeepEqual(w.Endpoint.Secrets(times[4].Add(SecretGrace)), []string{ev.Secret}) {
		t.Fatalf("after rotation: %+v", w.Endpoint)
	}

	ev, err = DeleteWebhook(&w, "actor", times[5])
	step("deleted", ev, err, 31)
	if !w.Deleted || w.Active() {
		t.Fatalf("after delete: %+v", w)
	}
}

func TestApplyDisabledIsInactive(t *testing.T) {
	req := baseCreate()
	req.Enabled = ptr(false)
	w := createWebhook(t, req)
	if w.Active() {
		t.Errorf("a disabled webhook is active")
	}
}

func TestApplyRejectsBadEvents(t *testing.T) {
	w := createWebhook(t, baseCreate())
	before := mustJSON(t, w)
	for _, ev := range []*WebhookEvent{
		{Type: "webhook.renamed", Time: t0},
		{Type: "", Time: t0},
		{Type: "Webhook.Created", Time: t0, Create: &WebhookConfig{}},
		{Type: WebhookCreated, Time: t0},
		{Type: WebhookUpdated, Time: t0},
	} {
		if err := w.Apply(ev, 99); err == nil {
			t.Errorf("Apply(%q) accepted", ev.Type)
		}
		if mustJSON(t, w) != before {
			t.Errorf("a refused %q event changed the state", ev.Type)
		}
	}
}

func TestApplyNeverMutatesPreviousState(t *testing.T) {
	orig := richWebhook(t)
	snapshot := mustJSON(t, orig)
	// A suspended copy, so that unsuspending the next one cannot touch this one's SuspendedAt.
	tests := []struct {
		name string
		ev   func(w *Webhook) *WebhookEvent
	}{
		{"update", func(w *Webhook) *WebhookEvent {
			ev, err := Policy{}.UpdateWebhook(w, "a", t0.Add(time.Hour), &WebhookUpdate{
				Name:             ptr("other"),
				RemoveEventTypes: []string{"a.b"},
				AddEventTypes:    []string{"z.z"},
				Endpoint: &EndpointUpdate{RemoveHeaders: []string{"x-foo"}, AddHeaders: map[string][]string{"x-bar": {"changed"}, "x-n": {"1"}},
					Secret: ptr(secretOf(30)), URL: ptr("https://changed.example.com/")},
				FailureHandling: &FailureHandlingUpdate{
					RemoveTriggers: []string{"5xx"}, AddTriggers: []string{"404"},
					RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(9)},
					AlertEndpoint: &EndpointUpdate{Secret: ptr(secretOf(33)), AddHeaders: map[string][]string{"x-a": {"1"}}},
					Divert:        ptr(false),
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}},
		{"remove failure handling", func(w *Webhook) *WebhookEvent {
			ev, err := Policy{}.UpdateWebhook(w, "a", t0, &WebhookUpdate{RemoveFailureHandling: true,
				FailureHandling: &FailureHandlingUpdate{AddTriggers: []string{"3xx"}}})
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}},
		{"rotate", func(w *Webhook) *WebhookEvent {
			ev, err := Policy{}.RotateSecret(w, "a", t0)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}},
		{"suspend", func(w *Webhook) *WebhookEvent { return Suspend(w, "r", t0) }},
		{"delete", func(w *Webhook) *WebhookEvent {
			ev, err := DeleteWebhook(w, "a", t0)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := *orig // shares slices, maps and pointers with orig
			if err := cp.Apply(tt.ev(orig), 2); err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, orig); got != snapshot {
				t.Errorf("applying to a copy changed the original:\n got %s\nwant %s", got, snapshot)
			}
			if mustJSON(t, cp) == snapshot {
				t.Errorf("the copy did not change")
			}
		})
	}

	// The folded state does not alias the event: mutating the state leaves the event as it was.
	ev, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, &WebhookCreate{
		Endpoint:        &EndpointCreate{URL: "https://example.com/", Headers: map[string][]string{"X-A": {"1"}}},
		FailureHandling: &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 1, Interval: 1, Type: RetryLinear}, AlertEndpoint: &EndpointCreate{URL: "https://a.example.com/"}},
		EventTypes:      []string{"a.b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	evSnap := mustJSON(t, ev)
	var w Webhook
	if err := w.Apply(ev, 1); err != nil {
		t.Fatal(err)
	}
	w.EventTypes[0] = "mutated"
	w.Endpoint.Headers["X-A"][0] = "mutated"
	w.FailureHandling.Triggers[0] = "mutated"
	w.FailureHandling.RetryStrategy.Attempts = 7
	w.FailureHandling.AlertEndpoint.URL = "mutated"
	if got := mustJSON(t, ev); got != evSnap {
		t.Errorf("mutating the folded state changed the event:\n got %s\nwant %s", got, evSnap)
	}
}

func TestApplyReplayFromJSON(t *testing.T) {
	// Every event kind survives a JSON round trip: the replayed fold equals the live one.
	p := Policy{}
	var live, replay Webhook
	var events []*WebhookEvent
	apply := func(ev *WebhookEvent, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
		if err := live.Apply(ev, uint64(len(events))); err != nil {
			t.Fatal(err)
		}
	}
	apply(p.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "a", t0, &WebhookCreate{
		Name: "r", Endpoint: &EndpointCreate{URL: "https://example.com/", Headers: map[string][]string{"x-a": {"1"}}},
		FailureHandling: &FailureHandlingCreate{Triggers: &[]string{}}, EventTypes: []string{"a"}}))
	apply(p.UpdateWebhook(&live, "a", t0.Add(time.Second), &WebhookUpdate{Enabled: ptr(false), Endpoint: &EndpointUpdate{Secret: ptr(secretOf(24))},
		FailureHandling: &FailureHandlingUpdate{AlertEndpoint: &EndpointUpdate{URL: ptr("https://alert.example.com/")},
			RetryStrategy: &RetryStrategyUpdate{Attempts: ptr(2), Interval: ptr(3), Type: ptr(RetryLinear)}}}))
	apply(Suspend(&live, "r", t0.Add(2*time.Second)), nil)
	apply(p.RotateSecret(&live, "a", t0.Add(3*time.Second)))
	apply(Unsuspend(&live, "a", t0.Add(4*time.Second)))
	for i, ev := range events {
		var back WebhookEvent
		if err := json.Unmarshal([]byte(mustJSON(t, ev)), &back); err != nil {
			t.Fatal(err)
		}
		if err := replay.Apply(&back, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := mustJSON(t, live), mustJSON(t, replay); a != b {
		t.Errorf("replay differs:\nlive   %s\nreplay %s", a, b)
	}
	if len(live.FailureHandling.Triggers) != 0 {
		t.Errorf("explicit empty triggers became %q", live.FailureHandling.Triggers)
	}
}

func TestReceives(t *testing.T) {
	tests := []struct {
		types []string
		ev    string
		want  bool
	}{
		{nil, "card.created", true},
		{[]string{}, "anything", true},
		{[]string{}, "", true},
		{[]string{"card.created"}, "card.created", true},
		{[]string{"card.created"}, "card.shipped", false},
		{[]string{"card.created"}, "Card.Created", false},
		{[]string{"card.created"}, "card", false},
		{[]string{"card"}, "card.created", false},
		{[]string{"a", "b.c"}, "b.c", true},
	}
	for _, tt := range tests {
		w := Webhook{WebhookConfig: WebhookConfig{EventTypes: tt.types}}
		if got := w.Receives(tt.ev); got != tt.want {
			t.Errorf("Receives(%q) with %q = %v, want %v", tt.ev, tt.types, got, tt.want)
		}
	}
}

func TestSecretsWithoutGrace(t *testing.T) {
	until := t0.Add(time.Hour)
	tests := []struct {
		name string
		e    Endpoint
		want []string
	}{
		{"no previous", Endpoint{Secret: "s1"}, []string{"s1"}},
		{"previous without deadline", Endpoint{Secret: "s1", PreviousSecret: "s0"}, []string{"s1"}},
		{"deadline without previous", Endpoint{Secret: "s1", PreviousSecretUntil: &until}, []string{"s1"}},
		{"in grace", Endpoint{Secret: "s1", PreviousSecret: "s0", PreviousSecretUntil: &until}, []string{"s1", "s0"}},
	}
	for _, tt := range tests {
		if got := tt.e.Secrets(t0); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Secrets = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNewSecretAndCheckSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s := NewSecret()
		if err := CheckSecret("f", s); err != nil {
			t.Fatalf("NewSecret %q: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
	err := CheckSecret("some.field", "bad")
	wantError(t, err, CodeInvalid, "some.field")
}

func TestValidTrigger(t *testing.T) {
	valid := []string{"3xx", "4xx", "5xx", "timeout", "300", "404", "599"}
	invalid := []string{"", "2xx", "6xx", "4XX", "xxx", "299", "600", "-40", "+40", "40", "4040", " 404", "404 ", "TIMEOUT", "3e2", "٣٠٠"}
	for _, s := range valid {
		if !ValidTrigger(s) {
			t.Errorf("ValidTrigger(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if ValidTrigger(s) {
			t.Errorf("ValidTrigger(%q) = true", s)
		}
	}
}

func TestErrorCodeOf(t *testing.T) {
	if got := ErrorCodeOf(Invalid("f", "x")); got != CodeInvalid {
		t.Errorf("got %q", got)
	}
	if got := ErrorCodeOf(errors.Join(errors.New("x"), NotFound("y"))); got != CodeNotFound {
		t.Errorf("wrapped: got %q", got)
	}
	if got := ErrorCodeOf(errors.New("plain")); got != CodeInternal {
		t.Errorf("plain: got %q", got)
	}
	if got := Invalid("a.b", "must be %d", 3).Error(); got != "a.b: must be 3" {
		t.Errorf("Error() = %q", got)
	}
	if got := Forbidden("no").Error(); got != "no" {
		t.Errorf("Error() without field = %q", got)
	}
}

func TestUpdateThatChangesNothingHasNoEvent(t *testing.T) {
	w := createWebhook(t, baseCreate())
	same := w.Name
	for _, req := range []*WebhookUpdate{{}, {Name: &same}, {RemoveEventTypes: []string{"not.listed"}}} {
		ev, err := Policy{}.UpdateWebhook(w, "a", t0, req)
		if err != nil || ev != nil {
			t.Errorf("update %+v: event %v, err %v; want neither", req, ev, err)
		}
	}
}

func TestEnabledSinceMarksTheLatestEnabling(t *testing.T) {
	w := createWebhook(t, baseCreate())
	if !w.EnabledSince.Equal(t0) || w.ReceivesIngestedAt(t0.Add(-time.Millisecond)) || !w.ReceivesIngestedAt(t0) {
		t.Fatalf("created enabled: since %v", w.EnabledSince)
	}
	off, _ := update(t, w, 2, t0.Add(time.Minute), &WebhookUpdate{Enabled: ptr(false)})
	if !off.EnabledSince.Equal(t0) {
		t.Fatalf("disabling moved the mark to %v", off.EnabledSince)
	}
	on, _ := update(t, off, 3, t0.Add(2*time.Minute), &WebhookUpdate{Enabled: ptr(true)})
	if !on.EnabledSince.Equal(t0.Add(2*time.Minute)) || on.ReceivesIngestedAt(t0.Add(90*time.Second)) {
		t.Fatalf("re-enabled: since %v; an event ingested while disabled must not be received", on.EnabledSince)
	}
	renamed, _ := update(t, on, 4, t0.Add(3*time.Minute), &WebhookUpdate{Name: ptr("other")})
	if !renamed.EnabledSince.Equal(on.EnabledSince) {
		t.Fatalf("a change that keeps it enabled moved the mark to %v", renamed.EnabledSince)
	}
	req := baseCreate()
	req.Enabled = ptr(false)
	if d := createWebhook(t, req); !d.EnabledSince.IsZero() {
		t.Fatalf("created disabled: since %v", d.EnabledSince)
	}
}
