package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestUnavailableAnswers checks /readyz's body and that requests the engine cannot serve yet are answered
// 503 with Retry-After in their face's error shape, before reaching a handler.
func TestUnavailableAnswers(t *testing.T) {
	failing := []string{"nats", "router"}
	views, connected := false, false
	api := New(Config{
		Registry: prometheus.NewRegistry(),
		Log:      slog.New(slog.DiscardHandler),
		Failing:  func() []string { return failing },
		Serving:  func() (bool, bool) { return views, connected },
	})
	call := func(method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, rec.Body, err)
		}
		return rec, m
	}

	rec, body := call(http.MethodGet, "/readyz", "")
	got, _ := body["failing"].([]any)
	if rec.Code != http.StatusServiceUnavailable || body["ready"] != false || len(got) != 2 || got[0] != "nats" || got[1] != "router" {
		t.Fatalf("readyz while failing: %d %s", rec.Code, rec.Body)
	}
	if rec, _ := call(http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}

	const tenant = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"
	for _, tc := range []struct {
		views, connected  bool
		method, path, key string
	}{
		{false, true, http.MethodGet, "/event/" + tenant + "/webhooks/list", "code"},
		{false, false, http.MethodGet, "/v1/event_subscriptions", "debugging_request_id"},
		{true, false, http.MethodPost, "/event/" + tenant + "/events", "code"},
		{true, false, http.MethodPost, "/v1/event_subscriptions", "debugging_request_id"},
	} {
		views, connected = tc.views, tc.connected
		rec, body := call(tc.method, tc.path, `{}`)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || body[tc.key] == nil || body["message"] == nil {
			t.Errorf("%s %s (views %v, nats %v): %d Retry-After %q %s", tc.method, tc.path, tc.views, tc.connected,
				rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if tc.key == "code" && body["code"] != "unavailable" {
			t.Errorf("%s %s: code %v", tc.method, tc.path, body["code"])
		}
	}

	failing = nil
	rec, body = call(http.MethodGet, "/readyz", "")
	if rec.Code != http.StatusOK || body["ready"] != true {
		t.Fatalf("readyz when ready: %d %s", rec.Code, rec.Body)
	}
	if _, ok := body["failing"]; ok {
		t.Errorf("readyz when ready names failures: %s", rec.Body)
	}
}
