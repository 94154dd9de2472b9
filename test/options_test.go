package test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// askingReceiver answers each request with the status and headers its script gives, and records when each
// request came and for which event.
type askingReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []askedRequest
	script func(n int) (status int, retryAfter string)
}

type askedRequest struct {
	id string
	at time.Time
}

func newAskingReceiver(t *testing.T, script func(n int) (int, string)) *askingReceiver {
	rc := &askingReceiver{script: script}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, askedRequest{id: r.Header.Get("Webhook-Id"), at: time.Now()})
		rc.mu.Unlock()
		status, retryAfter := rc.script(n)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *askingReceiver) wait(t *testing.T, n int) []askedRequest {
	t.Helper()
	var got []askedRequest
	eventually(t, 20*time.Second, strconv.Itoa(n)+" requests", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got = append([]askedRequest(nil), rc.got...)
		return len(got) >= n
	})
	return got
}

// attemptsOf returns the webhook's attempts through the Socotra face, newest first.
func (h *harness) attemptsOf(webhook string) []map[string]any {
	h.t.Helper()
	var page struct{ Attempts []map[string]any }
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+webhook+"/attempts"), adminToken, nil).json(h.t, &page)
	return page.Attempts
}

// retryAfterCase publishes one event to a webhook whose endpoint answers the first request with status and
// Retry-After, then a second event once that answer is in, and returns when each request came.
func retryAfterCase(t *testing.T, h *harness, status int, retryAfter func() string) (webhook string, got []askedRequest, first, second string) {
	t.Helper()
	rc := newAskingReceiver(t, func(n int) (int, string) {
		if n == 0 {
			return status, retryAfter()
		}
		return http.StatusOK, ""
	})
	webhook = h.createWebhook(tenantA, retryBody(rc.srv.URL+"/ra", map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3},
	}))
	first = h.publishHTTP(tenantA, "ra."+strconv.Itoa(status), map[string]any{}).Locator
	rc.wait(t, 1)
	second = h.publishHTTP(tenantA, "ra."+strconv.Itoa(status), map[string]any{}).Locator
	return webhook, rc.wait(t, 3), first, second
}

// after returns when the first request for event id came after start.
func after(got []askedRequest, id string, from int) time.Time {
	for _, r := range got[from:] {
		if r.id == id {
			return r.at
		}
	}
	return time.Time{}
}

// waitJobsDone waits until every recover and replay_missing job has run: a job leaves its stream when done.
func (h *harness) waitJobsDone() {
	h.t.Helper()
	_, js := h.natsClient()
	eventually(h.t, 20*time.Second, "jobs done", func() bool {
		s, err := js.Stream(h.t.Context(), "HOOKSTREAM_JOBS")
		if err != nil {
			return false
		}
		info, err := s.Info(h.t.Context())
		return err == nil && info.State.Msgs == 0
	})
}

func TestRetryAfterSecondsMovesTheRetryAndPausesTheWebhook(t *testing.T) {
	h := startEngine(t)
	wh, got, first, second := retryAfterCase(t, h, http.StatusTooManyRequests, func() string { return "3" })
	answered := got[0].at
	// The strategy says 1 s; the endpoint asked for 3 s: the retry and the next event both wait for it.
	for _, id := range []string{first, second} {
		at := after(got, id, 1)
		if wait := at.Sub(answered); wait < 3*time.Second || wait > 5*time.Second {
			t.Errorf("event %s tried %v after the 429, want 3 s .. 5 s", id, wait)
		}
	}
	eventually(t, 10*time.Second, "the 429 attempt recorded with its Retry-After", func() bool {
		for _, a := range h.attemptsOf(wh) {
			if a["statusCode"] == float64(429) {
				return a["retryAfter"] == float64(3)
			}
		}
		return false
	})
	// The /v1 face records it as retry_after.
	tok := h.v1Token()
	var page v1PageOf[map[string]any]
	expect(t, h.v1(http.MethodGet, "/v1/event_subscriptions/"+wh+"/attempts", tok, nil), http.StatusOK).json(t, &page)
	found := false
	for _, a := range page.Data {
		if a["response_status_code"] == float64(429) {
			found = a["retry_after"] == float64(3)
		} else if _, has := a["retry_after"]; has {
			t.Errorf("attempt %v has retry_after", a)
		}
	}
	if !found {
		t.Errorf("no 429 attempt with retry_after 3 in %v", page.Data)
	}
}

func TestRetryAfterHTTPDateIsNeverRetriedBefore(t *testing.T) {
	h := startEngine(t)
	var date time.Time
	_, got, first, _ := retryAfterCase(t, h, http.StatusServiceUnavailable, func() string {
		date = time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
		return date.UTC().Format(http.TimeFormat)
	})
	if at := after(got, first, 1); at.Before(date) || at.After(date.Add(2*time.Second)) {
		t.Errorf("retried at %v, want from %v to 2 s after", at, date)
	}
}

// Without Retry-After, or with it on another status, the strategy alone sets the retry.
func TestRetryAfterControl(t *testing.T) {
	h := startEngine(t)
	for _, c := range []struct {
		status     int
		retryAfter string
	}{{http.StatusServiceUnavailable, ""}, {http.StatusInternalServerError, "5"}} {
		wh, got, first, second := retryAfterCase(t, h, c.status, func() string { return c.retryAfter })
		answered := got[0].at
		if wait := after(got, first, 1).Sub(answered); wait < time.Second || wait > 2500*time.Millisecond {
			t.Errorf("%d %q: retried %v after the failure, want 1 s .. 2.5 s", c.status, c.retryAfter, wait)
		}
		if wait := after(got, second, 1).Sub(answered); wait > 2*time.Second {
			t.Errorf("%d %q: the next event waited %v: the webhook was paused", c.status, c.retryAfter, wait)
		}
		for _, a := range h.attemptsOf(wh) {
			if _, has := a["retryAfter"]; has {
				t.Errorf("%d %q: attempt %v records a Retry-After", c.status, c.retryAfter, a)
			}
		}
	}
}

func TestRetryJitterStaysWithinItsRange(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(2, http.StatusServiceUnavailable))
	h.createWebhook(tenantA, retryBody(rc.url("/jitter"), map[string]any{
		"retryStrategy": map[string]any{"type": "exponential", "interval": 1, "attempts": 2, "jitter": 0.5},
	}))
	h.publishHTTP(tenantA, "jitter.test", map[string]any{})
	got := rc.waitFor(t, 3, 15*time.Second)
	// Each retry waits its exponential delay scaled by the jitter factor: never early, and late by at most the
	// scheduling slack.
	for k, base := range []time.Duration{time.Second, 2 * time.Second} {
		gap := got[k+1].at.Sub(got[k].at)
		if gap < base/2 || gap > base*3/2+time.Second {
			t.Errorf("gap before retry %d = %v, want %v .. %v", k+1, gap, base/2, base*3/2+time.Second)
		}
	}
}

func TestFilterDecidesWhatIsSent(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	filter := map[string]any{"data.amount": map[string]any{"$gt": 100}, "data.currency": map[string]any{"$in": []string{"EUR", "USD"}}}
	wh := h.createWebhook(tenantA, webhookBody("filtered", rc.url("/f"), map[string]any{"filter": filter, "eventTypes": []string{"card.created"}}))
	r := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)
	if got, _ := json.Marshal(r["filter"]); string(got) != `{"data.amount":{"$gt":100},"data.currency":{"$in":["EUR","USD"]}}` {
		t.Errorf("read back filter %s", got)
	}
	small := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 50, "currency": "EUR"})
	big := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 150, "currency": "EUR"})
	other := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 150, "currency": "GBP"})
	missing := h.publishHTTP(tenantA, "card.created", map[string]any{"currency": "EUR"})
	marker := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 101, "currency": "USD"})
	got := rc.waitFor(t, 2, 10*time.Second)
	// Without ordering, the two may arrive in either order.
	if ids := webhookIDs(got); len(ids) != 2 || !slices.Contains(ids, big.Locator) || !slices.Contains(ids, marker.Locator) {
		t.Fatalf("sent %v, want only %s and %s", ids, big.Locator, marker.Locator)
	}
	rejected := []string{small.Locator, other.Locator, missing.Locator}
	for _, a := range h.attemptsOf(wh) {
		for _, id := range rejected {
			if a["event"] == id {
				t.Errorf("a rejected event has an attempt: %v", a)
			}
		}
	}

	// A PATCH applies to the very next event.
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+wh), adminToken, map[string]any{"filter": map[string]any{"data.currency": "GBP"}})
	gbp := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 1, "currency": "GBP"})
	got = rc.waitFor(t, 3, 10*time.Second)
	if id := got[2].header.Get("Webhook-Id"); len(got) != 3 || id != gbp.Locator {
		t.Fatalf("sent %v, want %s third", webhookIDs(got), gbp.Locator)
	}
	// replay_missing skips what the current filter rejects: of the events never attempted, only the GBP one
	// goes.
	tok := h.v1Token()
	window := "?begin=" + small.Timestamp.Add(-time.Second).Format(time.RFC3339Nano)
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions/"+wh+"/replay_missing"+window, tok, nil), http.StatusAccepted)
	h.waitJobsDone()
	got = rc.waitFor(t, 4, 10*time.Second)
	if ids := webhookIDs(got); len(ids) != 4 || ids[3] != other.Locator {
		t.Fatalf("after replay_missing: %v, want %s alone replayed", ids, other.Locator)
	}
	// null clears the filter.
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+wh), adminToken, map[string]any{"filter": nil})
	unfiltered := h.publishHTTP(tenantA, "card.created", map[string]any{})
	got = rc.waitFor(t, 5, 10*time.Second)
	if ids := webhookIDs(got); len(ids) != 5 || ids[4] != unfiltered.Locator {
		t.Fatalf("sent %v, want %s last", ids, unfiltered.Locator)
	}
	if r := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t); r["filter"] != nil {
		t.Errorf("filter %v after a null PATCH", r["filter"])
	}
	// History records each change.
	var hist struct{ Items []map[string]any }
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh+"/history"), adminToken, nil).json(t, &hist)
	if len(hist.Items) != 3 {
		t.Fatalf("history %v", hist.Items)
	}
	for i, want := range []string{`{"data.amount":{"$gt":100},"data.currency":{"$in":["EUR","USD"]}}`, `{"data.currency":"GBP"}`, `null`} {
		if got, _ := json.Marshal(hist.Items[i]["change"].(map[string]any)["filter"]); string(got) != want {
			t.Errorf("history item %d filter %s, want %s", i, got, want)
		}
	}
}

func TestRecoverSkipsWhatTheFilterRejects(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(2, http.StatusInternalServerError))
	tok := h.v1Token()
	var sub v1Sub
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", tok, map[string]any{"url": rc.url("/r"), "event_types": []string{"card.created"}}), http.StatusCreated).json(t, &sub)
	// No retries: both events fail once for good.
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+sub.Token), adminToken, map[string]any{"failureHandling": map[string]any{"removeRetryStrategy": true}})
	small := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 5})
	big := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 500})
	rc.waitFor(t, 2, 10*time.Second)
	// Now filtered through the /v1 face: recover sends again only the failed event the filter accepts.
	var patched map[string]any
	expect(t, h.v1(http.MethodPatch, "/v1/event_subscriptions/"+sub.Token, tok, map[string]any{"filter": map[string]any{"data.amount": map[string]any{"$gte": 100}}}), http.StatusOK).json(t, &patched)
	if got, _ := json.Marshal(patched["filter"]); string(got) != `{"data.amount":{"$gte":100}}` {
		t.Errorf("/v1 filter read back as %s", got)
	}
	eventually(t, 10*time.Second, "both failures recorded", func() bool { return len(h.attemptsOf(sub.Token)) == 2 })
	window := "?begin=" + small.Timestamp.Add(-time.Second).Format(time.RFC3339Nano)
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions/"+sub.Token+"/recover"+window, tok, nil), http.StatusAccepted)
	h.waitJobsDone()
	marker := h.publishHTTP(tenantA, "card.created", map[string]any{"amount": 100})
	got := rc.waitFor(t, 4, 10*time.Second)
	ids := webhookIDs(got[2:])
	if len(got) != 4 || !strings.Contains(strings.Join(ids, " "), big.Locator) || !strings.Contains(strings.Join(ids, " "), marker.Locator) {
		t.Fatalf("after recover: %v, want %s recovered and the marker %s, never %s", webhookIDs(got), big.Locator, marker.Locator, small.Locator)
	}
	// /v1 null clears it.
	expect(t, h.v1(http.MethodPatch, "/v1/event_subscriptions/"+sub.Token, tok, map[string]any{"filter": nil}), http.StatusOK).json(t, &patched)
	if patched["filter"] != nil {
		t.Errorf("/v1 filter %v after null", patched["filter"])
	}
}

func TestOptionsBadValuesNameTheField(t *testing.T) {
	h := startEngine(t)
	wh := h.createWebhook(tenantA, webhookBody("ok", "http://127.0.0.1:1/x", map[string]any{
		"failureHandling": map[string]any{"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 1, "jitter": 0.25}},
	}))
	r := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)
	if j := r["failureHandling"].(map[string]any)["retryStrategy"].(map[string]any)["jitter"]; j != 0.25 {
		t.Errorf("jitter read back as %v", j)
	}
	socotra := []struct {
		name  string
		patch bool
		body  string
		field string
	}{
		{"filter not an object", false, `{"endpoint": {"url": "http://127.0.0.1:1/x"}, "filter": [1]}`, "filter"},
		{"filter unknown operator", false, `{"endpoint": {"url": "http://127.0.0.1:1/x"}, "filter": {"data.a": {"$regex": "x"}}}`, "filter.data.a.$regex"},
		{"filter bad root", true, `{"filter": {"body.a": 1}}`, "filter.body.a"},
		{"filter too deep", true, `{"filter": {"$or": [{"$or": [{"$or": [{"$or": [{"type": "a"}]}]}]}]}}`, "filter.$or[0].$or[0].$or[0].$or[0]"},
		{"jitter too big", false, `{"endpoint": {"url": "http://127.0.0.1:1/x"}, "failureHandling": {"retryStrategy": {"type": "linear", "interval": 1, "attempts": 1, "jitter": 0.6}}}`, "failureHandling.retryStrategy.jitter"},
		{"jitter negative", true, `{"failureHandling": {"retryStrategy": {"jitter": -0.1}}}`, "failureHandling.retryStrategy.jitter"},
		{"jitter not a number", true, `{"failureHandling": {"retryStrategy": {"jitter": "x"}}}`, "failureHandling.retryStrategy.jitter"},
		{"ordering unknown", false, `{"endpoint": {"url": "http://127.0.0.1:1/x"}, "ordering": "lifo"}`, "ordering"},
		{"ordering not a string", true, `{"ordering": 1}`, "ordering"},
		{"rate limit zero", false, `{"endpoint": {"url": "http://127.0.0.1:1/x", "rateLimit": 0}}`, "endpoint.rateLimit"},
		{"rate limit too high", true, `{"endpoint": {"rateLimit": 10001}}`, "endpoint.rateLimit"},
		{"rate limit not an integer", true, `{"endpoint": {"rateLimit": 2.5}}`, "endpoint.rateLimit"},
		{"rate limit on the alert endpoint", false, `{"endpoint": {"url": "http://127.0.0.1:1/x"}, "failureHandling": {"alertEndpoint": {"url": "http://127.0.0.1:1/a", "rateLimit": 5}}}`, "failureHandling.alertEndpoint.rateLimit"},
	}
	for _, c := range socotra {
		t.Run(c.name, func(t *testing.T) {
			method, path := http.MethodPost, wpath(tenantA, "")
			if c.patch {
				method, path = http.MethodPatch, wpath(tenantA, "/"+wh)
			}
			var e struct{ Code, Message, Field string }
			expect(t, h.do(method, path, adminToken, c.body), http.StatusBadRequest).json(t, &e)
			if e.Field != c.field || e.Code == "" || e.Message == "" {
				t.Errorf("error %+v, want field %q", e, c.field)
			}
		})
	}
	// Nothing bad was stored: the webhook is as it was.
	if r2 := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t); r2["filter"] != nil {
		t.Errorf("filter %v stored from a refused request", r2["filter"])
	}
	// PATCH null clears the jitter.
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+wh), adminToken, `{"failureHandling": {"retryStrategy": {"jitter": null}}}`)
	r = h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)
	if _, has := r["failureHandling"].(map[string]any)["retryStrategy"].(map[string]any)["jitter"]; has {
		t.Errorf("jitter still there after null: %v", r["failureHandling"])
	}

	tok := h.v1Token()
	var sub v1Sub
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", tok, map[string]any{"url": "http://127.0.0.1:1/v"}), http.StatusCreated).json(t, &sub)
	for _, c := range []struct {
		method, path, body, want string
	}{
		{http.MethodPost, "/v1/event_subscriptions", `{"url": "http://127.0.0.1:1/v", "filter": {"data.name": {"$gt": true}}}`, "filter.data.name.$gt: "},
		{http.MethodPatch, "/v1/event_subscriptions/" + sub.Token, `{"filter": "type"}`, "filter: "},
		{http.MethodPost, "/v1/event_subscriptions", `{"url": "http://127.0.0.1:1/v", "ordering": "random"}`, "ordering: "},
		{http.MethodPatch, "/v1/event_subscriptions/" + sub.Token, `{"rate_limit": 0}`, "rate_limit: "},
		{http.MethodPatch, "/v1/event_subscriptions/" + sub.Token, `{"rate_limit": "fast"}`, "rate_limit"},
	} {
		var e struct {
			Message            string `json:"message"`
			DebuggingRequestID string `json:"debugging_request_id"`
		}
		expect(t, h.v1(c.method, c.path, tok, c.body), http.StatusBadRequest).json(t, &e)
		if !strings.HasPrefix(e.Message, c.want) || e.DebuggingRequestID == "" {
			t.Errorf("%s %s: error %+v, want a message naming filter", c.method, c.path, e)
		}
	}
}

// TestOrderingAndRateLimitInBothFaces sets, reads, changes and clears both options through each face, and
// finds each change in the webhook's history.
func TestOrderingAndRateLimitInBothFaces(t *testing.T) {
	h := startEngine(t)
	tok := h.v1Token()
	var sub map[string]any
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", tok, map[string]any{"url": "http://127.0.0.1:1/v", "ordering": "fifo", "rate_limit": 50}), http.StatusCreated).json(t, &sub)
	if sub["ordering"] != "fifo" || sub["rate_limit"] != float64(50) {
		t.Fatalf("/v1 created %v", sub)
	}
	token := sub["token"].(string)
	r := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+token), adminToken, nil).object(t)
	if r["ordering"] != "fifo" || r["endpoint"].(map[string]any)["rateLimit"] != float64(50) {
		t.Fatalf("Socotra face reads %v", r)
	}
	r = h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+token), adminToken, map[string]any{"ordering": nil, "endpoint": map[string]any{"rateLimit": 7}}).object(t)
	if r["ordering"] != "none" || r["endpoint"].(map[string]any)["rateLimit"] != float64(7) {
		t.Fatalf("after a Socotra PATCH: %v", r)
	}
	expect(t, h.v1(http.MethodPatch, "/v1/event_subscriptions/"+token, tok, map[string]any{"rate_limit": nil}), http.StatusOK).json(t, &sub)
	if sub["ordering"] != "none" || sub["rate_limit"] != nil {
		t.Fatalf("after a /v1 PATCH: %v", sub)
	}
	if _, has := sub["rate_limit"]; !has {
		t.Errorf("rate_limit missing, want null: %v", sub)
	}
	// A webhook created with neither shows the defaults.
	plain := h.createWebhook(tenantA, webhookBody("plain", "http://127.0.0.1:1/p", nil))
	r = h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+plain), adminToken, nil).object(t)
	if ep := r["endpoint"].(map[string]any); r["ordering"] != "none" || ep["rateLimit"] != nil {
		t.Errorf("defaults read %v, %v", r["ordering"], ep)
	}
	var hist struct{ Items []map[string]any }
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+token+"/history"), adminToken, nil).json(t, &hist)
	if len(hist.Items) != 3 {
		t.Fatalf("history %v", hist.Items)
	}
	changes := make([]string, len(hist.Items))
	for i, it := range hist.Items {
		b, _ := json.Marshal(it["change"])
		changes[i] = string(b)
	}
	for i, want := range []string{`"ordering":"fifo"`, `"ordering":null`, `"rateLimit":null`} {
		if !strings.Contains(changes[i], want) {
			t.Errorf("history item %d %s, want it to hold %s", i, changes[i], want)
		}
	}
	if !strings.Contains(changes[0], `"rateLimit":50`) || !strings.Contains(changes[1], `"rateLimit":7`) {
		t.Errorf("history %v lacks the rate limits", changes)
	}
}
