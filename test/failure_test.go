package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func retryBody(url string, fh map[string]any) map[string]any {
	return map[string]any{"name": "flaky", "endpoint": map[string]any{"url": url}, "failureHandling": fh}
}

func TestRetriesFollowTheStrategyNeverEarly(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(2, http.StatusServiceUnavailable))
	h.createWebhook(tenantA, retryBody(rc.url("/flaky"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3},
	}))
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	got := rc.waitFor(t, 3, 15*time.Second)
	for i, r := range got {
		if r.header.Get("Webhook-Id") != ev.Locator {
			t.Fatalf("try %d has webhook-id %s, want the event locator %s on every try", i, r.header.Get("Webhook-Id"), ev.Locator)
		}
	}
	// linear, interval 1 s: retry k waits k s after the previous try ended (never early, at most ~1 s late).
	for k, want := range []time.Duration{time.Second, 2 * time.Second} {
		gap := got[k+1].at.Sub(got[k].at)
		if gap < want || gap > want+time.Second {
			t.Errorf("gap before retry %d = %s, want %s..%s", k+1, gap, want, want+time.Second)
		}
	}
	// The attempts stream holds FAILED, FAILED, SUCCESS, and the PENDING records of the two retries.
	eventually(t, 5*time.Second, "three outcomes recorded", func() bool {
		n := 0
		for _, rec := range h.deliveryRecords() {
			if a, ok := rec["attempt"].(map[string]any); ok && a["status"] != "PENDING" {
				n++
			}
		}
		return n == 3
	})
	var statuses []string
	for _, rec := range h.deliveryRecords() {
		a := rec["attempt"].(map[string]any)
		statuses = append(statuses, a["status"].(string)+"/"+jsonNumber(a["statusCode"]))
	}
	want := []string{"FAILED/503", "PENDING/0", "FAILED/503", "PENDING/0", "SUCCESS/200"}
	if !slices.Equal(statuses, want) {
		t.Fatalf("attempt records %v, want %v", statuses, want)
	}
	// A failure that matches no trigger is not retried.
	rc2 := newReceiver(t)
	rc2.setAnswer(func(int) int { return http.StatusNotFound })
	h.createWebhook(tenantA, retryBody(rc2.url("/gone"), map[string]any{
		"triggers": []string{"5xx"}, "retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3},
	}))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	rc2.waitFor(t, 1, 10*time.Second)
	rc.waitFor(t, 4, 10*time.Second) // the first webhook gets the second event: the pipeline moved on
	if n := len(rc2.requests()); n != 1 {
		t.Fatalf("a 404 with triggers [5xx] was tried %d times", n)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFinalFailureDivertsAlertsAndResends(t *testing.T) {
	h := startEngine(t)
	rc, alerts := newReceiver(t), newReceiver(t)
	failing := true
	rc.setAnswer(func(int) int {
		if failing {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	created := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, retryBody(rc.url("/x"), map[string]any{
		"divert":        true,
		"retryStrategy": map[string]any{"type": "exponential", "interval": 1, "attempts": 1},
		"alertEndpoint": map[string]any{"url": alerts.url("/alerts")},
	})).object(t)
	loc := created["locator"].(string)
	alertSecret := created["failureHandling"].(map[string]any)["alertEndpoint"].(map[string]any)["secret"].(string)

	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 1})
	ev2 := h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 2})
	got := alerts.waitFor(t, 2, 15*time.Second)
	if n := len(rc.requests()); n != 4 {
		t.Fatalf("endpoint got %d tries, want 2 events × (1 + 1 retry)", n)
	}
	var notice map[string]any
	if err := json.Unmarshal(got[0].body, &notice); err != nil {
		t.Fatal(err)
	}
	if notice["type"] != "webhook.delivery.failed" || notice["webhookLocator"] != loc || notice["failureTrigger"] != "5xx" ||
		notice["diverted"] != true || notice["suspended"] != false || notice["tenantLocator"] != tenantA {
		t.Fatalf("alert notice %s", got[0].body)
	}
	wh, _ := standardwebhooks.NewWebhook(alertSecret)
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Fatalf("alert not signed with the alert endpoint's secret: %v", err)
	}

	var diverted []map[string]any
	eventually(t, 5*time.Second, "two diverted records", func() bool {
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted"), adminToken, nil).json(t, &diverted)
		return len(diverted) == 2
	})
	d := diverted[0]
	if d["eventLocator"] != ev.Locator || d["failureTrigger"] != "5xx" || !strings.Contains(d["failureMessage"].(string), "500") ||
		d["requestLocator"] == "" || d["failureTimestamp"] == "" {
		t.Fatalf("diverted record %v", d)
	}
	one := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator), adminToken, nil).object(t)
	if one["requestLocator"] != d["requestLocator"] {
		t.Fatalf("fetch diverted %v", one)
	}
	page := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted?offset=1&count=1"), adminToken, nil)
	if !strings.Contains(string(page.body), ev2.Locator) || strings.Contains(string(page.body), ev.Locator) {
		t.Fatalf("offset/count page %s", page.body)
	}

	// Resend while the endpoint is healthy: delivered, and the record goes.
	failing = false
	h.must(http.StatusOK, http.MethodPost, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator+"/resend"), adminToken, nil)
	rc.waitFor(t, 5, 10*time.Second)
	eventually(t, 5*time.Second, "diverted record removed after a successful resend", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator), adminToken, nil).status == http.StatusNotFound
	})
	h.must(http.StatusOK, http.MethodDelete, wpath(tenantA, "/"+loc+"/diverted/"+ev2.Locator), adminToken, nil)
	h.must(http.StatusNotFound, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+ev2.Locator), adminToken, nil)
	h.must(http.StatusNotFound, http.MethodPost, wpath(tenantA, "/"+loc+"/diverted/"+ev2.Locator+"/resend"), adminToken, nil)

	// Permissions of the diverted-events group.
	lister, _ := h.mintToken([]string{tenantA}, "diverted-events.list")
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted"), lister, nil)
	h.must(http.StatusForbidden, http.MethodPost, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator+"/resend"), lister, nil)
	h.must(http.StatusForbidden, http.MethodDelete, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator), lister, nil)
}

// suspendedByFirstFailure creates a webhook on rc, subscribed to policy.issue, that suspends on a final
// failure; rc fails the first request (event 0, published here) and accepts the rest. It returns once the
// webhook is suspended, with its locator and state.
func suspendedByFirstFailure(t *testing.T, h *harness, rc *receiver) (string, map[string]any) {
	t.Helper()
	rc.setAnswer(failingFirst(1, http.StatusBadGateway))
	body := retryBody(rc.url("/s"), map[string]any{"suspend": true})
	body["eventTypes"] = []string{"policy.issue"}
	loc := h.createWebhook(tenantA, body)
	h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 0})
	rc.waitFor(t, 1, 10*time.Second)
	var wh map[string]any
	eventually(t, 10*time.Second, "webhook suspended", func() bool {
		wh = h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil).object(t)
		return wh["suspended"] == true
	})
	return loc, wh
}

func TestSuspendHoldsEventsAndReleasesThemInOrder(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	loc, wh := suspendedByFirstFailure(t, h, rc)
	if wh["suspendedAt"] == nil {
		t.Fatalf("suspendedAt missing: %v", wh)
	}
	var held []string
	for i := 1; i <= 5; i++ {
		held = append(held, h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": i}).Locator)
	}
	// Nothing goes out while suspended. Survive a restart while holding, too.
	h.restart()
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("suspended webhook got %d requests", n)
	}
	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+loc+"/unsuspend"), adminToken, nil)
	after := h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 6}).Locator
	// An event the server sent to the stopping instance's router as it stopped can be lost in flight and come
	// back only after the router's ack wait (15 s), and the release waits for it: it must not overtake it.
	got := rc.waitFor(t, 7, 40*time.Second)
	if order := webhookIDs(got[1:]); !slices.Equal(order, append(held, after)) {
		t.Fatalf("released in order %v, want %v then %s", webhookIDs(got[1:]), held, after)
	}
	hist := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/history"), adminToken, nil)
	if !strings.Contains(string(hist.body), `"type":"webhook.suspended"`) || !strings.Contains(string(hist.body), `"actor":"system"`) {
		t.Fatalf("history lacks the system suspension: %s", hist.body)
	}
}

func TestScheduledRetrySurvivesRestart(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	h.createWebhook(tenantA, retryBody(rc.url("/r"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 3, "attempts": 2},
	}))
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	first := rc.waitFor(t, 1, 10*time.Second)
	h.restart()
	got := rc.waitFor(t, 2, 15*time.Second)
	if got[1].header.Get("Webhook-Id") != ev.Locator {
		t.Fatalf("retry carried %s", got[1].header.Get("Webhook-Id"))
	}
	if gap := got[1].at.Sub(first[0].at); gap < 3*time.Second {
		t.Fatalf("retry came %s after the failure, earlier than the 3 s interval", gap)
	}
}

func TestDeletedWebhookRetriesAreDropped(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(func(int) int { return http.StatusServiceUnavailable })
	loc := h.createWebhook(tenantA, retryBody(rc.url("/d"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 2},
	}))
	other := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("other", other.url("/o"), nil))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	rc.waitFor(t, 1, 10*time.Second)
	h.must(http.StatusNoContent, http.MethodDelete, wpath(tenantA, "/"+loc), adminToken, nil)
	// Wait past the retry's due time, observed through the pending record being cancelled.
	eventually(t, 10*time.Second, "pending retry cancelled", func() bool {
		for _, rec := range h.deliveryRecords() {
			if rec["type"] == "attempt.cancelled" {
				return true
			}
		}
		return false
	})
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("deleted webhook got %d tries", n)
	}
}

func TestPrivateDestinationRefusedAtDialTime(t *testing.T) {
	host := loopbackAlias(t)
	h := startEngine(t, func(c *config.Config) { c.AllowPrivateDestinations = false })
	rc := newReceiver(t)
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":"):]
	// The name passes the check at create (it is not a literal address) but resolves to loopback.
	h.createWebhook(tenantA, webhookBody("rebinding", "http://"+host+port+"/x", nil))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	eventually(t, 10*time.Second, "a FAILED attempt", func() bool {
		for _, rec := range h.deliveryRecords() {
			if a, ok := rec["attempt"].(map[string]any); ok && a["status"] == "FAILED" {
				if !strings.Contains(a["error"].(string), "private") {
					t.Fatalf("error %q does not say why", a["error"])
				}
				return true
			}
		}
		return false
	})
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the loopback receiver was reached %d times", n)
	}
}

// loopbackAlias returns a host name other than localhost that /etc/hosts maps to a loopback address.
func loopbackAlias(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skip("no /etc/hosts")
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || !strings.HasPrefix(fields[0], "127.") {
			continue
		}
		for _, name := range fields[1:] {
			if name != "localhost" && !strings.HasSuffix(name, ".localhost") {
				return name
			}
		}
	}
	t.Skip("/etc/hosts has no loopback alias other than localhost")
	return ""
}

func TestRotatedSecretSignsWithBothDuringGrace(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	created := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, webhookBody("rot", rc.url("/r"), nil)).object(t)
	loc := created["locator"].(string)
	oldSecret := created["endpoint"].(map[string]any)["secret"].(string)
	newSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+loc), adminToken, map[string]any{"endpoint": map[string]any{"secret": newSecret}})
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	got := rc.waitFor(t, 1, 10*time.Second)[0]
	sigs := strings.Fields(got.header.Get("Webhook-Signature"))
	if len(sigs) != 2 {
		t.Fatalf("want two signatures during the grace period, got %q", got.header.Get("Webhook-Signature"))
	}
	for _, secret := range []string{newSecret, oldSecret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("a receiver verifying with %s… rejects the delivery: %v", secret[:10], err)
		}
	}
	// The new secret signs first.
	one := got.header.Clone()
	one.Set("Webhook-Signature", sigs[0])
	wh, _ := standardwebhooks.NewWebhook(newSecret)
	if err := wh.Verify(got.body, one); err != nil {
		t.Fatalf("first signature is not the new secret's: %v", err)
	}
}

func TestTimeoutsAndRedirectsAreFailures(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.DeliveryTimeout = 300 * time.Millisecond })
	slow := newReceiver(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.setAnswer(func(int) int { <-release; return http.StatusOK })
	redirect := newReceiver(t)
	redirect.setAnswer(func(int) int { return http.StatusFound })
	h.createWebhook(tenantA, webhookBody("slow", slow.url("/slow"), map[string]any{"eventTypes": []string{"slow.one"}}))
	h.createWebhook(tenantA, webhookBody("redirect", redirect.url("/moved"), map[string]any{
		"eventTypes": []string{"moved.one"}, "failureHandling": map[string]any{"triggers": []string{"3xx"}, "divert": true},
	}))
	h.publishHTTP(tenantA, "slow.one", map[string]any{})
	h.publishHTTP(tenantA, "moved.one", map[string]any{})
	outcomes := map[string]map[string]any{}
	eventually(t, 10*time.Second, "both attempts recorded", func() bool {
		for _, rec := range h.deliveryRecords() {
			if a, ok := rec["attempt"].(map[string]any); ok && a["status"] == "FAILED" {
				outcomes[a["url"].(string)] = a
			}
		}
		return len(outcomes) == 2
	})
	if a := outcomes[slow.url("/slow")]; a["statusCode"] != 0.0 || a["trigger"] != "timeout" || !strings.Contains(a["error"].(string), "no response within") {
		t.Errorf("slow endpoint attempt %v", a)
	}
	if a := outcomes[redirect.url("/moved")]; a["statusCode"] != 302.0 || a["trigger"] != "3xx" {
		t.Errorf("redirect attempt %v", a)
	}
	if n := len(redirect.requests()); n != 1 {
		t.Errorf("redirect endpoint got %d requests", n)
	}
}

// TestHoldingEndsUnderSteadyTraffic: with other webhooks' deliveries always in flight, the router's ack floor
// (events are acked once their deliveries are done) never catches up with the events stream's end; the end of
// a holding must still come, once the router has passed the point where it was first tried.
func TestHoldingEndsUnderSteadyTraffic(t *testing.T) {
	h := startEngine(t)
	busy := newReceiver(t)
	busy.setAnswer(func(int) int {
		time.Sleep(100 * time.Millisecond) // the endpoint's latency, not synchronization
		return http.StatusOK
	})
	h.createWebhook(tenantA, map[string]any{"name": "busy", "endpoint": map[string]any{"url": busy.url("/busy")},
		"eventTypes": []string{"claim.open"}})
	rc := newReceiver(t)
	loc, _ := suspendedByFirstFailure(t, h, rc)
	var held []string
	for i := 1; i <= 3; i++ {
		held = append(held, h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": i}).Locator)
	}

	// Steady traffic to the slow endpoint: a few of its deliveries are always in flight.
	_, js := h.natsClient()
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = js.Publish(ctx, "hookstream.events."+tenantA+".claim.open", []byte(fmt.Sprintf(`{"n":%d}`, i)))
			cancel()
		}
	})
	t.Cleanup(func() { close(stop); traffic.Wait() })
	eventually(t, 10*time.Second, "steady traffic to the slow endpoint", func() bool { return len(busy.requests()) >= 10 })

	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+loc+"/unsuspend"), adminToken, nil)
	got := rc.waitFor(t, 4, 15*time.Second)
	if order := webhookIDs(got[1:]); !slices.Equal(order, held) {
		t.Fatalf("released in order %v, want %v", order, held)
	}
	eventually(t, 15*time.Second, "holding ended (webhook.released in the history)", func() bool {
		hist := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/history"), adminToken, nil)
		return strings.Contains(string(hist.body), `"type":"webhook.released"`)
	})
	// New events go straight out again.
	after := h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": 4}).Locator
	got = rc.waitFor(t, 5, 15*time.Second)
	if id := got[4].header.Get("Webhook-Id"); id != after {
		t.Fatalf("after the holding, delivered %s, want %s", id, after)
	}
}
