package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/nats-io/nats.go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestDeliveryIsSignedAndFannedOutToActiveSubscribers(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	typed := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, webhookBody("typed", rc.url("/typed"), map[string]any{
		"eventTypes": []string{"policy.issue"},
	})).object(t)
	h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, map[string]any{
		"name": "all", "endpoint": map[string]any{"url": rc.url("/all"), "headers": map[string][]string{"X-Team": {"uw"}}},
	})
	h.createWebhook(tenantA, webhookBody("other type", rc.url("/other"), map[string]any{"eventTypes": []string{"policy.cancel"}}))
	h.createWebhook(tenantA, webhookBody("disabled", rc.url("/disabled"), map[string]any{"enabled": false}))
	h.createWebhook(tenantB, webhookBody("other tenant", rc.url("/b"), nil))
	secret := typed["endpoint"].(map[string]any)["secret"].(string)

	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{"policyLocator": "P-1", "premium": 120.5})
	if ev.Locator == "" || ev.Type != "policy.issue" || ev.Tenant != tenantA || ev.Timestamp.IsZero() {
		t.Fatalf("EventResponse = %+v", ev)
	}
	rc.waitFor(t, 2, 10*time.Second)
	// A third, late delivery would be a bug; give the pipeline a moment by publishing a marker event to the
	// all-types webhook and waiting for it: everything routed before it has arrived by then.
	h.publishHTTP(tenantA, "marker.done", map[string]any{})
	got := rc.waitFor(t, 3, 10*time.Second)
	paths := []string{}
	for _, r := range got {
		paths = append(paths, r.path)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/all", "/all", "/typed"}) {
		t.Fatalf("deliveries went to %v, want /typed and /all (twice, with the marker)", paths)
	}
	for _, r := range got {
		if r.path != "/typed" {
			continue
		}
		if r.header.Get("Webhook-Id") != ev.Locator || r.header.Get("Content-Type") != "application/json" ||
			!strings.HasPrefix(r.header.Get("User-Agent"), "hookstream/") {
			t.Fatalf("headers %v", r.header)
		}
		body := decodeEvent(t, r.body)
		if body.Locator != ev.Locator || string(body.Data) != `{"policyLocator":"P-1","premium":120.5}` {
			t.Fatalf("body %s, want the EventResponse of %s", r.body, ev.Locator)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatalf("Standard Webhooks verification failed: %v (headers %v)", err, r.header)
		}
	}
	for _, r := range got {
		if r.path == "/all" && r.header.Get("X-Team") != "uw" {
			t.Fatalf("custom header missing: %v", r.header)
		}
	}

	// The event reads back through the events API, identical.
	var back eventJSON
	h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/"+ev.Locator, adminToken, nil).json(t, &back)
	if back.Locator != ev.Locator || !back.Timestamp.Equal(ev.Timestamp) || string(back.Data) != string(ev.Data) {
		t.Fatalf("events API %+v, want %+v", back, ev)
	}
	h.must(http.StatusNotFound, http.MethodGet, "/event/"+tenantB+"/events/"+ev.Locator, adminToken, nil)
}

func TestPublishOverNATSDedupesAndRejectsInvalid(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("all", rc.url("/all"), nil))
	_, js := h.natsClient()
	ctx := context.Background()
	subject := "hookstream.events." + tenantA + ".card.created"

	// Invalid messages straight to NATS: not an object, and a bad tenant. They must not block what follows.
	if _, err := js.Publish(ctx, subject, []byte(`[1,2,3]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "hookstream.events.not-a-uuid.card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m := nats.NewMsg(subject)
		m.Data = []byte(`{"card":"c-1"}`)
		m.Header.Set("Nats-Msg-Id", "producer-key-1")
		m.Header.Set("Hookstream-Request-Id", "req-77")
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		_ = ack
	}
	h.publishHTTP(tenantA, "marker.done", map[string]any{})
	// Deliveries to one webhook run concurrently: look at them by type, not by arrival order.
	got := rc.waitFor(t, 2, 10*time.Second)
	var cards []eventJSON
	for _, r := range got {
		if e := decodeEvent(t, r.body); e.Type == "card.created" {
			cards = append(cards, e)
		}
	}
	if len(cards) != 1 {
		t.Fatalf("card.created delivered %d times, want once (the duplicate Nats-Msg-Id is deduped)", len(cards))
	}
	if cards[0].RequestID != "req-77" || string(cards[0].Data) != `{"card":"c-1"}` {
		t.Fatalf("card delivery %+v", cards[0])
	}
	wants := []string{"hookstream_events_rejected_total 2", `hookstream_deliveries_total{outcome="success"} 2`,
		"hookstream_attempt_latency_seconds_count", `hookstream_consumer_pending_messages{consumer="deliveries"}`,
		`hookstream_projection_lag_messages{view="attempts"}`,
		// Four events stored: the two invalid ones, the card once, the marker.
		`hookstream_stream_last_sequence{stream="EVENTS"} 4`, `hookstream_consumer_pending_messages{consumer="router"} 0`,
		`hookstream_http_requests_total{code="202",method="POST",route="/event/{tenantLocator}/events"}`}
	var metrics string
	eventually(t, 5*time.Second, "delivery metrics", func() bool {
		metrics = string(h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil).body)
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				return false
			}
		}
		return true
	})
	if !strings.Contains(h.logs.String(), "rejected an invalid event") {
		t.Fatal("rejected events not logged")
	}
}

func TestHTTPIngestIdempotencyAndBadInput(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("all", rc.url("/all"), nil))
	send := func(key string) eventJSON {
		t.Helper()
		var e eventJSON
		expect(t, h.doHeader(http.MethodPost, "/event/"+tenantA+"/events", `{"type":"policy.issue","data":{"n":1},"requestId":"r-1"}`,
			"Authorization", "Bearer "+adminToken, "Idempotency-Key", key), http.StatusAccepted).json(t, &e)
		return e
	}
	a, b := send("k-1"), send("k-1")
	if a.Locator != b.Locator || !a.Timestamp.Equal(b.Timestamp) || a.RequestID != "r-1" {
		t.Fatalf("repeated Idempotency-Key gave %+v then %+v", a, b)
	}
	c := send("k-2")
	if c.Locator == a.Locator {
		t.Fatal("a new key gave the same event")
	}
	rc.waitFor(t, 2, 10*time.Second)
	h.publishHTTP(tenantA, "marker.done", map[string]any{})
	if got := rc.waitFor(t, 3, 10*time.Second); len(got) != 3 {
		t.Fatalf("got %d deliveries, want 3 (k-1 once, k-2, marker)", len(got))
	}

	reader, _ := h.mintToken([]string{tenantA}, "events.read")
	for _, tc := range []struct {
		body, token, field string
		status             int
	}{
		{`{"type":"policy.issue","data":[1]}`, adminToken, "data", 400},
		{`{"type":"policy.issue","data":"x"}`, adminToken, "data", 400},
		{`{"type":"policy.issue"}`, adminToken, "data", 400},
		{`{"type":"bad type","data":{}}`, adminToken, "type", 400},
		{`{"data":{}}`, adminToken, "type", 400},
		{`{"type":"a.b","data":{},"extra":1}`, adminToken, "extra", 400},
		{`{"type":"a.b","data":{},"requestId":"` + strings.Repeat("r", 300) + `"}`, adminToken, "requestId", 400},
		{`{"type":"a.b","data":{}}`, reader, "", 403},
	} {
		r := h.do(http.MethodPost, "/event/"+tenantA+"/events", tc.token, tc.body)
		if r.status != tc.status || (tc.field != "" && r.object(t)["field"] != tc.field) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.body, r.status, r.body, tc.status, tc.field)
		}
	}
	big := `{"type":"a.b","data":{"x":"` + strings.Repeat("x", 1<<20) + `"}}`
	h.must(http.StatusRequestEntityTooLarge, http.MethodPost, "/event/"+tenantA+"/events", adminToken, big)
	h.must(http.StatusBadRequest, http.MethodPost, "/event/not-a-tenant/events", adminToken, `{"type":"a.b","data":{}}`)
}

func TestEventsListPagesAndPollsForever(t *testing.T) {
	h := startEngine(t)
	var locs []string
	for i := range 5 {
		typ := "policy.issue"
		if i%2 == 1 {
			typ = "policy.cancel"
		}
		locs = append(locs, h.publishHTTP(tenantA, typ, map[string]any{"i": i}).Locator)
	}
	h.publishHTTP(tenantB, "policy.issue", map[string]any{})
	type page struct {
		PagingToken string      `json:"pagingToken"`
		Events      []eventJSON `json:"events"`
	}
	get := func(q string) page {
		var p page
		h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/list"+q, adminToken, nil).json(t, &p)
		if p.PagingToken == "" {
			t.Fatalf("page without pagingToken for %s", q)
		}
		return p
	}
	p1 := get("?pageSize=2")
	p2 := get("?pageSize=2&pagingToken=" + p1.PagingToken)
	p3 := get("?pageSize=2&pagingToken=" + p2.PagingToken)
	var seen []string
	for _, p := range []page{p1, p2, p3} {
		for _, e := range p.Events {
			seen = append(seen, e.Locator)
		}
	}
	if !slices.Equal(seen, locs) {
		t.Fatalf("pages gave %v, want %v", seen, locs)
	}
	empty := get("?pageSize=2&pagingToken=" + p3.PagingToken)
	if len(empty.Events) != 0 {
		t.Fatalf("page after the end has %d events", len(empty.Events))
	}
	// Polling with the token of an empty page finds what arrives later.
	later := h.publishHTTP(tenantA, "policy.issue", map[string]any{"late": true})
	if p := get("?pageSize=2&pagingToken=" + empty.PagingToken); len(p.Events) != 1 || p.Events[0].Locator != later.Locator {
		t.Fatalf("poll after new event: %+v", p.Events)
	}
	// Filters travel in the token.
	f1 := get("?pageSize=1&type=policy.cancel")
	f2 := get("?pageSize=5&pagingToken=" + f1.PagingToken)
	if len(f1.Events) != 1 || f1.Events[0].Locator != locs[1] || len(f2.Events) != 1 || f2.Events[0].Locator != locs[3] {
		t.Fatalf("type filter pages: %+v then %+v", f1.Events, f2.Events)
	}
	start := p1.Events[1].Timestamp.Format(time.RFC3339Nano)
	if p := get("?pageSize=10&startTimestamp=" + start + "&endTimestamp=" + later.Timestamp.Format(time.RFC3339Nano)); len(p.Events) != 4 {
		t.Fatalf("time window gave %d events, want 4", len(p.Events))
	}
	for _, q := range []string{"?pageSize=0", "?pageSize=1001", "?pagingToken=garbage!", "?pagingToken=eyJ4IjoxfQ", "?startTimestamp=yesterday", "?type=a..b"} {
		h.must(http.StatusBadRequest, http.MethodGet, "/event/"+tenantA+"/events/list"+q, adminToken, nil)
	}
}

func TestConcurrentPublishersAllDeliveredOnce(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("all", rc.url("/all"), nil))
	_, js := h.natsClient()
	const producers, each = 16, 25
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if p%2 == 0 {
					if _, err := js.Publish(context.Background(), "hookstream.events."+tenantA+".load.test", fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i)); err != nil {
						t.Error(err)
					}
				} else {
					r := h.do(http.MethodPost, "/event/"+tenantA+"/events", adminToken, map[string]any{"type": "load.test", "data": map[string]int{"p": p, "i": i}})
					if r.status != http.StatusAccepted {
						t.Errorf("status %d", r.status)
					}
				}
			}
		})
	}
	wg.Wait()
	distinct := func() int {
		ids := map[string]bool{}
		for _, r := range rc.requests() {
			ids[r.header.Get("Webhook-Id")] = true
		}
		return len(ids)
	}
	eventually(t, 30*time.Second, "every event delivered", func() bool { return distinct() == producers*each })
}

func TestThousandWebhooksOnOneTenantWithTypeFilters(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	want := map[string]bool{}
	for i := range 1000 {
		types := []string{"claim.open"}
		if i%2 == 0 {
			types = []string{"claim.close", "claim.reopen"}
		}
		path := fmt.Sprintf("/w%d", i)
		h.createWebhook(tenantA, webhookBody(path, rc.url(path), map[string]any{"eventTypes": types}))
		if i%2 == 0 {
			want[path] = true
		}
	}
	h.publishHTTP(tenantA, "claim.close", map[string]any{})
	rc.waitFor(t, 500, 60*time.Second)
	// Everything routed has been delivered once a second event to the other half has arrived too.
	h.publishHTTP(tenantA, "claim.open", map[string]any{})
	got := rc.waitFor(t, 1000, 60*time.Second)
	closes := map[string]bool{}
	for _, r := range got {
		if decodeEvent(t, r.body).Type == "claim.close" {
			if closes[r.path] || !want[r.path] {
				t.Fatalf("claim.close went to %s (twice or unsubscribed)", r.path)
			}
			closes[r.path] = true
		}
	}
	if len(closes) != 500 {
		t.Fatalf("claim.close reached %d webhooks, want 500", len(closes))
	}
}

// A slow endpoint's backlog is parked out of the shared consumer's window: the other endpoints' deliveries do
// not wait behind it, and the slow endpoint still gets every event exactly once.
func TestSlowEndpointDoesNotHoldBackTheOthers(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.MaxInFlight, c.MaxInFlightPerEndpoint = 8, 2 })
	slow, fast := newReceiver(t), newReceiver(t)
	slow.setAnswer(func(int) int { time.Sleep(150 * time.Millisecond); return http.StatusOK })
	h.createWebhook(tenantA, webhookBody("slow", slow.url("/s"), nil))
	h.createWebhook(tenantA, webhookBody("fast", fast.url("/f"), nil))
	_, js := h.natsClient()
	const events = 60 // the slow endpoint takes 60 × 150 ms / 2 = 4.5 s; the consumer's window is 4 × 8 = 32
	for i := range events {
		if _, err := js.Publish(context.Background(), "hookstream.events."+tenantA+".slow.test", fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	fast.waitFor(t, events, 15*time.Second)
	if n := len(slow.requests()); n >= events/2 {
		t.Fatalf("the fast endpoint got its %d events only after the slow one had %d", events, n)
	}
	got := slow.waitFor(t, events, 30*time.Second)
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.header.Get("Webhook-Id")] = true
	}
	if len(ids) != events || len(got) != events {
		t.Fatalf("slow endpoint: %d requests for %d events, want %d each once", len(got), len(ids), events)
	}
	if m := string(h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil).body); !strings.Contains(m, `hookstream_deliveries_total{outcome="parked"}`) {
		t.Fatal("no task was parked")
	}
}

// TestSlowDeliveryKeepsItsEvent: a delivery that takes longer than the router's 15 s ack wait keeps its event
// (the router reports it in progress), so the event is not routed a second time meanwhile.
func TestSlowDeliveryKeepsItsEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the router's ack wait")
	}
	t.Parallel()
	h := startEngine(t, func(c *config.Config) { c.DeliveryTimeout = 30 * time.Second })
	var requests atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(18 * time.Second) // the endpoint's latency, longer than the router's ack wait
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	h.createWebhook(tenantA, map[string]any{"name": "slow", "endpoint": map[string]any{"url": slow.URL + "/slow"}})
	h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 1})
	eventually(t, 40*time.Second, "the slow delivery recorded", func() bool {
		for _, rec := range h.deliveryRecords() {
			if a, ok := rec["attempt"].(map[string]any); ok && a["status"] == "SUCCESS" {
				return true
			}
		}
		return false
	})
	_, js := h.natsClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "HOOKSTREAM_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx, "router")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The event was handed to a router once (NumRedelivered counts only what is still unacked, so it says
	// nothing once the event is acked), and the endpoint got one request; requests are counted on arrival,
	// since a second one would still be in its 18 s.
	if info.Delivered.Consumer != 1 || requests.Load() != 1 {
		t.Fatalf("event handed to a router %d times, endpoint requests %d: want 1 and 1", info.Delivered.Consumer, requests.Load())
	}
}
