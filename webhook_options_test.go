package hookstream

import (
	"encoding/json"
	"testing"
)

func TestWebhookFilterLifecycle(t *testing.T) {
	req := baseCreate()
	req.Filter = json.RawMessage(`{"data.amount": {"$gt": 100}}`)
	w := createWebhook(t, req)
	if string(w.Filter) != `{"data.amount": {"$gt": 100}}` {
		t.Fatalf("filter = %s, want it as given", w.Filter)
	}
	w, ev := update(t, w, 2, t0, &WebhookUpdate{Filter: json.RawMessage(`{"type": "a.b"}`)})
	if ev == nil || string(w.Filter) != `{"type": "a.b"}` {
		t.Fatalf("filter = %s after a replacement", w.Filter)
	}
	w, _ = update(t, w, 3, t0, &WebhookUpdate{Name: new("renamed")})
	if string(w.Filter) != `{"type": "a.b"}` {
		t.Fatalf("an absent filter changed it: %s", w.Filter)
	}
	w, ev = update(t, w, 4, t0, &WebhookUpdate{Filter: json.RawMessage(`null`)})
	if ev == nil || w.Filter != nil {
		t.Fatalf("null did not clear the filter: %s", w.Filter)
	}
	// Creating with a null filter is creating without one.
	req.Filter = json.RawMessage(`null`)
	if w := createWebhook(t, req); w.Filter != nil {
		t.Errorf("filter = %s, want none", w.Filter)
	}
}

func TestWebhookFilterInvalid(t *testing.T) {
	req := baseCreate()
	req.Filter = json.RawMessage(`{"data.amount": {"$regex": "x"}}`)
	_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
	wantError(t, err, CodeInvalid, "filter.data.amount.$regex")
	w := createWebhook(t, baseCreate())
	_, err = Policy{}.UpdateWebhook(w, "actor-2", t0, &WebhookUpdate{Filter: json.RawMessage(`[1]`)})
	wantError(t, err, CodeInvalid, "filter")
}

func TestRetryJitter(t *testing.T) {
	req := baseCreate()
	req.FailureHandling = &FailureHandlingCreate{RetryStrategy: &RetryStrategy{Attempts: 3, Interval: 5, Type: RetryExponential, Jitter: 0.2}}
	w := createWebhook(t, req)
	if w.FailureHandling.RetryStrategy.Jitter != 0.2 {
		t.Fatalf("jitter = %v", w.FailureHandling.RetryStrategy.Jitter)
	}
	var u WebhookUpdate
	if err := json.Unmarshal([]byte(`{"failureHandling": {"retryStrategy": {"jitter": 0.5}}}`), &u); err != nil {
		t.Fatal(err)
	}
	w, _ = update(t, w, 2, t0, &u)
	if w.FailureHandling.RetryStrategy.Jitter != 0.5 || w.FailureHandling.RetryStrategy.Attempts != 3 {
		t.Fatalf("strategy = %+v", *w.FailureHandling.RetryStrategy)
	}
	u = WebhookUpdate{}
	if err := json.Unmarshal([]byte(`{"failureHandling": {"retryStrategy": {"jitter": null}}}`), &u); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, u); got != `{"failureHandling":{"retryStrategy":{"jitter":null}}}` {
		t.Errorf("the change is recorded as %s", got)
	}
	w, _ = update(t, w, 3, t0, &u)
	if w.FailureHandling.RetryStrategy.Jitter != 0 {
		t.Fatalf("null did not clear the jitter: %+v", *w.FailureHandling.RetryStrategy)
	}
	for _, bad := range []float64{-0.1, 0.51, 2} {
		req.FailureHandling.RetryStrategy.Jitter = bad
		_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
		wantError(t, err, CodeInvalid, "failureHandling.retryStrategy.jitter")
		_, err = Policy{}.UpdateWebhook(w, "actor-2", t0, &WebhookUpdate{FailureHandling: &FailureHandlingUpdate{
			RetryStrategy: &RetryStrategyUpdate{Jitter: Clearable[float64]{Value: bad, Set: true}}}})
		wantError(t, err, CodeInvalid, "failureHandling.retryStrategy.jitter")
	}
}

func TestOrderingAndRateLimit(t *testing.T) {
	req := baseCreate()
	req.Ordering = new(OrderingFIFO)
	req.Endpoint.RateLimit = new(20)
	w := createWebhook(t, req)
	if !w.FIFO() || w.OrderingName() != "fifo" || w.Endpoint.RateLimit != 20 {
		t.Fatalf("ordering %q, rate limit %d", w.Ordering, w.Endpoint.RateLimit)
	}
	var u WebhookUpdate
	if err := json.Unmarshal([]byte(`{"ordering": null, "endpoint": {"rateLimit": 500}}`), &u); err != nil {
		t.Fatal(err)
	}
	w, _ = update(t, w, 2, t0, &u)
	if w.FIFO() || w.OrderingName() != "none" || w.Endpoint.RateLimit != 500 {
		t.Fatalf("after the change: ordering %q, rate limit %d", w.Ordering, w.Endpoint.RateLimit)
	}
	u = WebhookUpdate{}
	if err := json.Unmarshal([]byte(`{"ordering": "fifo", "endpoint": {"rateLimit": null}}`), &u); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, u); got != `{"endpoint":{"rateLimit":null},"ordering":"fifo"}` {
		t.Errorf("the change is recorded as %s", got)
	}
	w, _ = update(t, w, 3, t0, &u)
	if !w.FIFO() || w.Endpoint.RateLimit != 0 {
		t.Fatalf("after clearing: ordering %q, rate limit %d", w.Ordering, w.Endpoint.RateLimit)
	}
	// "none" and never set are the same state: setting it changes nothing.
	if _, ev := update(t, createWebhook(t, baseCreate()), 2, t0, &WebhookUpdate{Ordering: Clearable[string]{Value: "none", Set: true}}); ev != nil {
		t.Errorf("ordering none on a webhook without one appended %+v", ev)
	}
}

func TestOrderingAndRateLimitInvalid(t *testing.T) {
	w := createWebhook(t, baseCreate())
	for _, bad := range []int{0, -1, 10001} {
		req := baseCreate()
		req.Endpoint.RateLimit = &bad
		_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
		wantError(t, err, CodeInvalid, "endpoint.rateLimit")
		_, err = Policy{}.UpdateWebhook(w, "actor-2", t0, &WebhookUpdate{Endpoint: &EndpointUpdate{RateLimit: Clearable[int]{Value: bad, Set: true}}})
		wantError(t, err, CodeInvalid, "endpoint.rateLimit")
	}
	for _, bad := range []string{"", "FIFO", "ordered"} {
		req := baseCreate()
		req.Ordering = &bad
		_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
		wantError(t, err, CodeInvalid, "ordering")
		_, err = Policy{}.UpdateWebhook(w, "actor-2", t0, &WebhookUpdate{Ordering: Clearable[string]{Value: bad, Set: true}})
		wantError(t, err, CodeInvalid, "ordering")
	}
	req := baseCreate()
	req.FailureHandling = &FailureHandlingCreate{AlertEndpoint: &EndpointCreate{URL: "https://alerts.example.com", RateLimit: new(5)}}
	_, err := Policy{}.CreateWebhook(testTenant, "01JPA0000000000000000000AB", "actor-1", t0, req)
	wantError(t, err, CodeInvalid, "failureHandling.alertEndpoint.rateLimit")
}
