package test

import (
	"github.com/hookstream/hookstream/config"
	"net/http"
	"strings"
	"testing"
)

func TestBadWebhookInputNamesTheField(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.AllowPrivateDestinations = false })
	loc := h.createWebhook(tenantA, webhookBody("ok", "https://example.com/ok", nil))
	before := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list?extended=true"), adminToken, nil).body

	creates := []struct {
		name  string
		body  string
		field string
	}{
		{"malformed json", `{"name":`, "body"},
		{"not an object", `[1,2]`, "body"},
		{"empty body", ``, "body"},
		{"trailing data", `{"endpoint":{"url":"https://e.com"}} {}`, "body"},
		{"unknown field", `{"endpoint":{"url":"https://e.com"},"colour":"red"}`, "colour"},
		{"wrong type", `{"endpoint":{"url":"https://e.com"},"enabled":"yes"}`, "enabled"},
		{"missing endpoint", `{"name":"x"}`, "endpoint"},
		{"missing url", `{"endpoint":{}}`, "endpoint.url"},
		{"ftp url", `{"endpoint":{"url":"ftp://e.com/x"}}`, "endpoint.url"},
		{"no host", `{"endpoint":{"url":"https:///x"}}`, "endpoint.url"},
		{"relative url", `{"endpoint":{"url":"/hook"}}`, "endpoint.url"},
		{"loopback literal", `{"endpoint":{"url":"http://127.0.0.1:8080/x"}}`, "endpoint.url"},
		{"private literal", `{"endpoint":{"url":"http://10.1.2.3/x"}}`, "endpoint.url"},
		{"link-local literal", `{"endpoint":{"url":"http://169.254.169.254/latest"}}`, "endpoint.url"},
		{"ipv6 loopback", `{"endpoint":{"url":"http://[::1]/x"}}`, "endpoint.url"},
		{"localhost", `{"endpoint":{"url":"http://localhost/x"}}`, "endpoint.url"},
		{"bad secret", `{"endpoint":{"url":"https://e.com","secret":"hunter2"}}`, "endpoint.secret"},
		{"short secret", `{"endpoint":{"url":"https://e.com","secret":"whsec_c2hvcnQ="}}`, "endpoint.secret"},
		{"reserved header", `{"endpoint":{"url":"https://e.com","headers":{"Webhook-Id":["x"]}}}`, "endpoint.headers.Webhook-Id"},
		{"content-type header", `{"endpoint":{"url":"https://e.com","headers":{"content-type":["x"]}}}`, "endpoint.headers.content-type"},
		{"attempts too high", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"retryStrategy":{"attempts":11,"interval":5,"type":"linear"}}}`, "failureHandling.retryStrategy.attempts"},
		{"attempts zero", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"retryStrategy":{"attempts":0,"interval":5,"type":"linear"}}}`, "failureHandling.retryStrategy.attempts"},
		{"interval too long", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"retryStrategy":{"attempts":1,"interval":86401,"type":"linear"}}}`, "failureHandling.retryStrategy.interval"},
		{"bad strategy type", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"retryStrategy":{"attempts":1,"interval":5,"type":"fibonacci"}}}`, "failureHandling.retryStrategy.type"},
		{"huge attempts", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"retryStrategy":{"attempts":1e30,"interval":5,"type":"linear"}}}`, "failureHandling.retryStrategy.attempts"},
		{"unknown trigger", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"triggers":["2xx"]}}`, "failureHandling.triggers[0]"},
		{"trigger out of range", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"triggers":["5xx","600"]}}`, "failureHandling.triggers[1]"},
		{"bad event type", `{"endpoint":{"url":"https://e.com"},"eventTypes":["policy..issue"]}`, "eventTypes[0]"},
		{"event type with space", `{"endpoint":{"url":"https://e.com"},"eventTypes":["ok","a b"]}`, "eventTypes[1]"},
		{"bad alert url", `{"endpoint":{"url":"https://e.com"},"failureHandling":{"alertEndpoint":{"url":"nope"}}}`, "failureHandling.alertEndpoint.url"},
	}
	for _, tc := range creates {
		t.Run("create/"+tc.name, func(t *testing.T) {
			r := expect(t, h.do(http.MethodPost, wpath(tenantA, ""), adminToken, tc.body), http.StatusBadRequest)
			m := r.object(t)
			if m["field"] != tc.field || m["message"] == "" || m["code"] != "invalid" {
				t.Fatalf("error %s, want field %q", r.body, tc.field)
			}
		})
	}

	updates := []struct {
		name  string
		body  string
		field string
	}{
		{"unknown field", `{"nme":"x"}`, "nme"},
		{"bad url", `{"endpoint":{"url":"gopher://x"}}`, "endpoint.url"},
		{"reserved header", `{"endpoint":{"addHeaders":{"Host":["x"]}}}`, "endpoint.addHeaders.Host"},
		{"bad trigger", `{"failureHandling":{"addTriggers":["timeout","nope"]}}`, "failureHandling.addTriggers[1]"},
		{"incomplete new retry strategy", `{"failureHandling":{"retryStrategy":{"attempts":3}}}`, "failureHandling.retryStrategy.interval"},
		{"new alert endpoint without url", `{"failureHandling":{"alertEndpoint":{"tag":"x"}}}`, "failureHandling.alertEndpoint.url"},
		{"bad event type", `{"addEventTypes":["*"]}`, "addEventTypes[0]"},
		{"wrong type", `{"removeEventTypes":"policy.issue"}`, "removeEventTypes"},
	}
	for _, tc := range updates {
		t.Run("update/"+tc.name, func(t *testing.T) {
			r := expect(t, h.do(http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, tc.body), http.StatusBadRequest)
			if m := r.object(t); m["field"] != tc.field {
				t.Fatalf("error %s, want field %q", r.body, tc.field)
			}
		})
	}

	queries := []string{"?count=0", "?count=1001", "?count=-1", "?count=ten", "?offset=-1", "?enabled=yes", "?active=1",
		"?eventTypes=a..b", "?extended=maybe", "?count="}
	for _, q := range queries {
		t.Run("query/"+q, func(t *testing.T) {
			r := expect(t, h.do(http.MethodGet, wpath(tenantA, "/list"+q), adminToken, nil), http.StatusBadRequest)
			if m := r.object(t); m["field"] == "" || m["field"] == nil {
				t.Fatalf("no field named: %s", r.body)
			}
		})
	}

	t.Run("body over 1 MiB", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("x", 1<<20) + `","endpoint":{"url":"https://e.com"}}`
		r := expect(t, h.do(http.MethodPost, wpath(tenantA, ""), adminToken, big), http.StatusRequestEntityTooLarge)
		if r.object(t)["message"] == "" {
			t.Fatal("no message")
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		r := expect(t, h.do(http.MethodGet, "/event/"+tenantA+"/nothing-here", adminToken, nil), http.StatusNotFound)
		if r.header.Get("Content-Type") != "application/json" || r.object(t)["message"] == "" {
			t.Fatalf("404 not JSON: %s", r.body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		r := expect(t, h.do(http.MethodPut, wpath(tenantA, "/"+loc), adminToken, "{}"), http.StatusMethodNotAllowed)
		if r.object(t)["message"] == "" {
			t.Fatalf("405 not JSON: %s", r.body)
		}
	})

	after := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list?extended=true"), adminToken, nil).body
	if string(before) != string(after) {
		t.Fatalf("bad input changed stored webhooks:\nbefore %s\nafter  %s", before, after)
	}
	if strings.Contains(h.logs.String(), "panic") {
		t.Fatal("a handler panicked")
	}
}
