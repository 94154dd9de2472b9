package test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestWebhookCreateFetchListUpdateDelete(t *testing.T) {
	h := startEngine(t)

	r := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, map[string]any{
		"name":    "Policy events",
		"enabled": true,
		"endpoint": map[string]any{
			"url":     "https://hooks.example.com/policy",
			"headers": map[string][]string{"x-team": {"underwriting"}},
		},
		"failureHandling": map[string]any{
			"triggers":      []string{"5xx", "timeout"},
			"retryStrategy": map[string]any{"attempts": 3, "interval": 10, "type": "exponential"},
			"divert":        true,
			"alertEndpoint": map[string]any{"url": "https://alerts.example.com/x"},
		},
		"eventTypes": []string{"policy.issue", "policy.cancel"},
	})
	created := r.object(t)
	loc := created["locator"].(string)
	ep := created["endpoint"].(map[string]any)
	secret := ep["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "…") {
		t.Fatalf("create must return the full generated secret, got %q", secret)
	}
	alert := created["failureHandling"].(map[string]any)["alertEndpoint"].(map[string]any)
	if s := alert["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret {
		t.Fatalf("alert endpoint needs its own generated secret, got %q", s)
	}
	if got := ep["headers"].(map[string]any)["X-Team"]; fmt.Sprint(got) != "[underwriting]" {
		t.Fatalf("headers = %v", ep["headers"])
	}

	// Fetch masks the secret.
	got := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil).object(t)
	masked := got["endpoint"].(map[string]any)["secret"].(string)
	if masked != "whsec_…"+secret[len(secret)-4:] {
		t.Fatalf("fetch secret = %q, want masked with last 4", masked)
	}
	if got["suspended"] != false || got["suspendedAt"] != nil || got["enabled"] != true {
		t.Fatalf("status fields wrong: %v", got)
	}

	// PATCH: removals first, then additions; absent fields untouched.
	patched := h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, map[string]any{
		"addEventTypes":    []string{"policy.renew", "policy.cancel"},
		"removeEventTypes": []string{"policy.issue", "policy.cancel"},
		"endpoint":         map[string]any{"addHeaders": map[string][]string{"X-Env": {"prod"}}, "removeHeaders": []string{"x-team"}},
		"failureHandling":  map[string]any{"addTriggers": []string{"404"}, "retryStrategy": map[string]any{"attempts": 5}},
	}).object(t)
	if fmt.Sprint(patched["eventTypes"]) != "[policy.renew policy.cancel]" {
		t.Fatalf("eventTypes after patch = %v", patched["eventTypes"])
	}
	if patched["name"] != "Policy events" {
		t.Fatalf("absent name changed: %v", patched["name"])
	}
	if fmt.Sprint(patched["endpoint"].(map[string]any)["headers"]) != "map[X-Env:[prod]]" {
		t.Fatalf("headers after patch = %v", patched["endpoint"])
	}
	fh := patched["failureHandling"].(map[string]any)
	if fmt.Sprint(fh["triggers"]) != "[5xx timeout 404]" || fmt.Sprint(fh["retryStrategy"]) != "map[attempts:5 interval:10 type:exponential]" {
		t.Fatalf("failureHandling after patch = %v", fh)
	}

	// removeFailureHandling restores the default.
	reset := h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, map[string]any{"removeFailureHandling": true}).object(t)
	fh = reset["failureHandling"].(map[string]any)
	if fmt.Sprint(fh["triggers"]) != "[4xx 5xx timeout]" || fh["retryStrategy"] != nil || fh["divert"] != false || fh["alertEndpoint"] != nil {
		t.Fatalf("failureHandling after removeFailureHandling = %v", fh)
	}

	// Unsuspend of a webhook that is not suspended is a no-op 204.
	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+loc+"/unsuspend"), adminToken, nil)

	hist := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/history"), adminToken, nil)
	var history struct {
		Items []struct {
			Sequence  uint64         `json:"sequence"`
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Actor     string         `json:"actor"`
			Change    map[string]any `json:"change"`
		} `json:"items"`
	}
	hist.json(t, &history)
	if len(history.Items) != 3 {
		t.Fatalf("history has %d items, want 3 (create, patch, patch): %s", len(history.Items), hist.body)
	}
	if history.Items[0].Type != "webhook.created" || history.Items[0].Actor != "admin" || history.Items[1].Type != "webhook.updated" {
		t.Fatalf("history = %s", hist.body)
	}
	if strings.Contains(string(hist.body), secret) {
		t.Fatalf("history leaks the secret")
	}
	if history.Items[0].Sequence >= history.Items[1].Sequence {
		t.Fatalf("history not in order: %s", hist.body)
	}

	h.must(http.StatusNoContent, http.MethodDelete, wpath(tenantA, "/"+loc), adminToken, nil)
	h.must(http.StatusNotFound, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil)
	h.must(http.StatusNotFound, http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, map[string]any{"name": "x"})
	h.must(http.StatusNotFound, http.MethodDelete, wpath(tenantA, "/"+loc), adminToken, nil)
	// The audit trail outlives the webhook.
	hist = h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/history"), adminToken, nil)
	hist.json(t, &history)
	if n := len(history.Items); n != 4 || history.Items[n-1].Type != "webhook.deleted" {
		t.Fatalf("history after delete: %s", hist.body)
	}
}

func TestWebhookListPagingAndFilters(t *testing.T) {
	h := startEngine(t)
	var locs []string
	for i := range 7 {
		body := webhookBody(fmt.Sprintf("hook-%d", i), "https://example.com/"+fmt.Sprint(i), nil)
		switch {
		case i%3 == 0:
			body["eventTypes"] = []string{"card.created"}
		case i%3 == 1:
			body["eventTypes"] = []string{"card.shipped"}
		}
		if i == 5 {
			body["enabled"] = false
			body["name"] = "Special HOOK"
		}
		locs = append(locs, h.createWebhook(tenantA, body))
	}
	h.createWebhook(tenantB, webhookBody("other tenant", "https://example.com/b", nil))

	list := func(query string) ([]string, bool) {
		t.Helper()
		var resp struct {
			ListCompleted bool `json:"listCompleted"`
			Items         []struct {
				Locator string `json:"locator"`
			} `json:"items"`
		}
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"+query), adminToken, nil).json(t, &resp)
		var out []string
		for _, it := range resp.Items {
			out = append(out, it.Locator)
		}
		return out, resp.ListCompleted
	}
	all, done := list("")
	if !slices.Equal(all, locs) || !done {
		t.Fatalf("list = %v (completed %v), want creation order %v", all, done, locs)
	}
	page, done := list("?offset=2&count=3")
	if !slices.Equal(page, locs[2:5]) || done {
		t.Fatalf("page = %v (completed %v), want %v and more to come", page, done, locs[2:5])
	}
	page, done = list("?offset=4&count=3")
	if !slices.Equal(page, locs[4:7]) || !done {
		t.Fatalf("last page = %v (completed %v)", page, done)
	}
	if got, _ := list("?enabled=false"); !slices.Equal(got, []string{locs[5]}) {
		t.Fatalf("enabled=false → %v", got)
	}
	if got, _ := list("?active=true"); len(got) != 6 {
		t.Fatalf("active=true → %d webhooks, want 6", len(got))
	}
	if got, _ := list("?name=special%20hook"); !slices.Equal(got, []string{locs[5]}) {
		t.Fatalf("name filter → %v", got)
	}
	// Webhooks with no types receive everything, so they match any type filter.
	want := []string{locs[0], locs[2], locs[3], locs[5], locs[6]}
	if got, _ := list("?eventTypes=card.created"); !slices.Equal(got, want) {
		t.Fatalf("eventTypes=card.created → %v, want %v", got, want)
	}
	if got, _ := list("?eventTypes=card.created,card.shipped"); !slices.Equal(got, locs) {
		t.Fatalf("comma-separated eventTypes → %v", got)
	}
	if got, _ := list("?eventTypes=card.created&eventTypes=card.shipped"); !slices.Equal(got, locs) {
		t.Fatalf("repeated eventTypes → %v", got)
	}

	// extended=true shows secrets only to a token with webhooks.write.
	reader, _ := h.mintToken([]string{tenantA}, "webhooks.read", "webhooks.list")
	r := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list?extended=true&count=1"), reader, nil)
	if !strings.Contains(string(r.body), "whsec_…") {
		t.Fatalf("read-only token saw unmasked secrets: %s", r.body)
	}
	r = h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list?extended=true&count=1"), adminToken, nil)
	if strings.Contains(string(r.body), "whsec_…") {
		t.Fatalf("extended=true with webhooks.write still masked: %s", r.body)
	}
}

func TestConcurrentPatchesLoseNoUpdate(t *testing.T) {
	h := startEngine(t)
	loc := h.createWebhook(tenantA, webhookBody("busy", "https://example.com/busy", map[string]any{"eventTypes": []string{"seed.type"}}))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			r := h.do(http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, map[string]any{"addEventTypes": []string{fmt.Sprintf("type.n%d", i)}})
			if r.status != http.StatusOK {
				errs <- fmt.Sprintf("patch %d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var got struct {
		EventTypes []string `json:"eventTypes"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil).json(t, &got)
	if len(got.EventTypes) != n+1 {
		t.Fatalf("webhook has %d event types after %d concurrent patches, want %d", len(got.EventTypes), n, n+1)
	}
	for i := range n {
		if !slices.Contains(got.EventTypes, fmt.Sprintf("type.n%d", i)) {
			t.Errorf("type.n%d lost", i)
		}
	}
	var history struct {
		Items []any `json:"items"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/history"), adminToken, nil).json(t, &history)
	if len(history.Items) != n+1 {
		t.Fatalf("history has %d items, want %d", len(history.Items), n+1)
	}
}
