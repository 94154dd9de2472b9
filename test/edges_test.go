package test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// v1AttemptDue is a /v1 attempt with hookstream's extension field.
type v1AttemptDue struct {
	v1AttemptJSON
	Due *time.Time `json:"due"`
}

func attemptTokens(p v1PageOf[v1AttemptDue]) []string {
	var out []string
	for _, a := range p.Data {
		out = append(out, a.Token)
	}
	return out
}

// TestV1AttemptsAreOrderedByCreatedWithDue lists a webhook's attempts where a PENDING retry's token (which
// carries its due time, an hour ahead) sorts above a later success: the listing is by created, newest first,
// the PENDING attempt says when it is due, and the cursors page through it both ways.
func TestV1AttemptsAreOrderedByCreatedWithDue(t *testing.T) {
	h := startEngine(t)
	tok := h.v1Token()
	rc := newReceiver(t)
	// The first request, the first event's first try, fails; its retry is an hour away.
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	webhook := h.createWebhook(tenantA, webhookBody("order", rc.url("/order"), map[string]any{
		"eventTypes":      []string{"policy.issue"},
		"failureHandling": map[string]any{"triggers": []string{"5xx"}, "retryStrategy": map[string]any{"type": "linear", "interval": 3600, "attempts": 2}},
	}))
	path := "/v1/event_subscriptions/" + webhook + "/attempts"
	list := func(query string) v1PageOf[v1AttemptDue] {
		var p v1PageOf[v1AttemptDue]
		expect(t, h.v1(http.MethodGet, path+query, tok, nil), http.StatusOK).json(t, &p)
		return p
	}

	failed := h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 0})
	eventually(t, 10*time.Second, "the first event's failed try and its pending retry", func() bool {
		p := list("")
		return len(p.Data) == 2 && p.Data[0].Status == "PENDING"
	})
	later := h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 1})
	var all v1PageOf[v1AttemptDue]
	eventually(t, 10*time.Second, "three attempts", func() bool {
		all = list("")
		return len(all.Data) == 3
	})

	got := all.Data
	if got[0].Event != later.Locator || got[0].Status != "SUCCESS" || got[1].Status != "PENDING" || got[2].Status != "FAILED" ||
		got[1].Event != failed.Locator || got[2].Event != failed.Locator {
		t.Fatalf("want the later success, then the pending retry, then the failure: %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Created.After(got[i-1].Created) {
			t.Errorf("attempt %d created %s after attempt %d's %s: not newest first", i, got[i].Created, i-1, got[i-1].Created)
		}
	}
	if got[0].Due != nil || got[2].Due != nil {
		t.Errorf("due on an attempt that is not PENDING: %+v", got)
	}
	if due := got[1].Due; due == nil || due.Before(got[2].Created.Add(59*time.Minute)) {
		t.Errorf("pending retry due %v, want about an hour after the failure at %s", due, got[2].Created)
	}
	want := attemptTokens(all)

	// The same order page by page, forwards with starting_after and backwards with ending_before.
	var forward []string
	for after := ""; ; {
		q := "?page_size=1"
		if after != "" {
			q += "&starting_after=" + after
		}
		p := list(q)
		forward = append(forward, attemptTokens(p)...)
		if !p.HasMore {
			break
		}
		after = p.Data[len(p.Data)-1].Token
	}
	if !slices.Equal(forward, want) {
		t.Errorf("paging forwards gave %v, want %v", forward, want)
	}
	backward := []string{want[len(want)-1]}
	for before := want[len(want)-1]; ; {
		p := list("?page_size=1&ending_before=" + before)
		if len(p.Data) == 0 {
			break
		}
		backward = append(attemptTokens(p), backward...)
		before = p.Data[0].Token
		if !p.HasMore {
			break
		}
	}
	if !slices.Equal(backward, want) {
		t.Errorf("paging backwards gave %v, want %v", backward, want)
	}
	if p := list("?page_size=2&ending_before=" + want[2]); !slices.Equal(attemptTokens(p), want[:2]) || p.HasMore {
		t.Errorf("page above the last: %v (more %v), want %v", attemptTokens(p), p.HasMore, want[:2])
	}

	// The event's own listing: its pending retry above its failure, with the due time.
	var ev v1PageOf[v1AttemptDue]
	expect(t, h.v1(http.MethodGet, "/v1/events/"+failed.Locator+"/attempts", tok, nil), http.StatusOK).json(t, &ev)
	if len(ev.Data) != 2 || ev.Data[0].Token != want[1] || ev.Data[1].Token != want[2] || ev.Data[0].Due == nil {
		t.Errorf("event attempts %+v, want %v", ev.Data, want[1:])
	}
}

// TestRetriedAttemptListedOnceByItsOutcome runs a retry a second after the failure: the PENDING record's
// place in the listing goes with it, and the attempt is listed once, by its outcome's creation.
func TestRetriedAttemptListedOnceByItsOutcome(t *testing.T) {
	h := startEngine(t)
	tok := h.v1Token()
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	webhook := h.createWebhook(tenantA, webhookBody("retry", rc.url("/retry"), map[string]any{
		"eventTypes":      []string{"policy.issue"},
		"failureHandling": map[string]any{"triggers": []string{"5xx"}, "retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 2}},
	}))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	rc.waitFor(t, 2, 15*time.Second)
	var p v1PageOf[v1AttemptDue]
	eventually(t, 10*time.Second, "the retry's success listed", func() bool {
		p = v1PageOf[v1AttemptDue]{} // json reuses a slice's elements without zeroing them
		expect(t, h.v1(http.MethodGet, "/v1/event_subscriptions/"+webhook+"/attempts", tok, nil), http.StatusOK).json(t, &p)
		return len(p.Data) > 0 && p.Data[0].Status == "SUCCESS"
	})
	if len(p.Data) != 2 || p.Data[1].Status != "FAILED" || p.Data[0].Due != nil || !p.Data[0].Created.After(p.Data[1].Created) {
		t.Fatalf("want the success above the failure, each once: %+v", p.Data)
	}
}

// TestUppercaseTenantAsksForLowercase checks both faces refuse an uppercase tenant UUID with a 400 that names
// the field and asks for lowercase.
func TestUppercaseTenantAsksForLowercase(t *testing.T) {
	h := startEngine(t)
	upper := strings.ToUpper(tenantA)
	r := h.do(http.MethodGet, "/event/"+upper+"/webhooks/list", adminToken, nil)
	m := expect(t, r, http.StatusBadRequest).object(t)
	if m["field"] != "tenantLocator" || !strings.Contains(m["message"].(string), "lowercase") || !strings.Contains(m["message"].(string), tenantA) {
		t.Errorf("Socotra face: %s", r.body)
	}
	r = h.v1(http.MethodGet, "/v1/event_subscriptions", adminToken, nil, "Hookstream-Tenant", upper)
	m = expect(t, r, http.StatusBadRequest).object(t)
	if msg, _ := m["message"].(string); !strings.HasPrefix(msg, "Hookstream-Tenant: ") || !strings.Contains(msg, "lowercase") {
		t.Errorf("Lithic face: %s", r.body)
	}
	r = h.do(http.MethodPost, "/admin/tokens", adminToken, map[string]any{"name": "t", "tenants": []string{upper}, "permissions": []string{"webhooks.read"}})
	if m := expect(t, r, http.StatusBadRequest).object(t); m["field"] != "tenants[0]" || !strings.Contains(m["message"].(string), "lowercase") {
		t.Errorf("admin tokens: %s", r.body)
	}
}
