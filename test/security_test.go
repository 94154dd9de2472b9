package test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
)

// newSecret returns a fresh Standard Webhooks secret.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// TestSecurityTenantIsolation tries every route with a token of tenant B against tenant A's webhooks,
// events, diverted records and subscriptions: every answer is a 403 or 404 (400 for a Hookstream-Tenant
// the token does not serve), no answer carries A's data, and A's state is untouched.
func TestSecurityTenantIsolation(t *testing.T) {
	h := startEngine(t)
	ok, failing := newReceiver(t), newReceiver(t)
	failing.setAnswer(func(int) int { return http.StatusInternalServerError })

	secretA := newSecret(t)
	createdA := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, map[string]any{
		"name": "tenant-a-private-name", "endpoint": map[string]any{"url": ok.url("/tenant-a-private"), "secret": secretA, "tag": "tenant-a-tag"},
		"eventTypes": []string{"policy.issue"},
	}).object(t)
	whA := createdA["locator"].(string)
	createdDiv := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, map[string]any{
		"name": "tenant-a-diverting", "endpoint": map[string]any{"url": failing.url("/tenant-a-failing")},
		"eventTypes": []string{"policy.issue"}, "failureHandling": map[string]any{"triggers": []string{"5xx"}, "divert": true},
	}).object(t)
	whDiv := createdDiv["locator"].(string)
	secretDiv := createdDiv["endpoint"].(map[string]any)["secret"].(string)
	tokA, tokALoc := h.mintToken([]string{tenantA}, "*")
	var subA v1Sub
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", tokA, map[string]any{
		"url": ok.url("/tenant-a-v1"), "description": "tenant-a-subscription", "event_types": []string{"card.created"},
	}), http.StatusCreated).json(t, &subA)

	evA := h.publishHTTP(tenantA, "policy.issue", map[string]any{"marker": "tenant-a-private-data"})
	keyed := h.hostileDo(http.MethodPost, "/event/"+tenantA+"/events", []byte(`{"type":"card.created","data":{"marker":"tenant-a-keyed"}}`),
		"Authorization", "Bearer "+adminToken, "Idempotency-Key", "shared-key")
	if keyed.status != http.StatusAccepted {
		t.Fatalf("keyed event: %d %s", keyed.status, keyed.body)
	}
	evKeyed := decodeEvent(t, keyed.body)
	ok.waitFor(t, 2, 10*time.Second) // the event to whA, the keyed card.created to the subscription
	var diverted []map[string]any
	eventually(t, 10*time.Second, "the diverted record", func() bool {
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whDiv+"/diverted"), adminToken, nil).json(t, &diverted)
		return len(diverted) == 1
	})
	var attempts v1PageOf[v1AttemptJSON]
	eventually(t, 10*time.Second, "attempts of A's event", func() bool {
		expect(t, h.v1(http.MethodGet, "/v1/events/"+evA.Locator+"/attempts", tokA, nil), http.StatusOK).json(t, &attempts)
		return len(attempts.Data) >= 2
	})

	// Tenant B has its own data, so that its own lists are not trivially empty.
	tokB, _ := h.mintToken([]string{tenantB}, "*")
	whB := h.createWebhook(tenantB, webhookBody("tenant-b", ok.url("/tenant-b"), map[string]any{"eventTypes": []string{"policy.issue"}}))
	evB := h.publishHTTP(tenantB, "policy.issue", map[string]any{"marker": "tenant-b"})
	ok.waitFor(t, 3, 10*time.Second)

	// What B must never see. Locators that the request itself names may be echoed in its error message.
	secrets := map[string]string{
		"webhook A": whA, "diverting webhook A": whDiv, "subscription A": subA.Token, "event A": evA.Locator,
		"keyed event A": evKeyed.Locator, "token A": tokALoc, "diverted request": fmt.Sprint(diverted[0]["requestLocator"]),
		"A's data": "tenant-a-private-data", "A's keyed data": "tenant-a-keyed", "A's name": "tenant-a-private-name",
		"A's url": "tenant-a-private", "A's tag": "tenant-a-tag", "A's failing url": "tenant-a-failing",
		"A's subscription": "tenant-a-subscription", "A's secret": secretA, "A's other secret": secretDiv,
		"A's secret's key": strings.TrimPrefix(secretA, "whsec_"), "A's token": tokA,
	}
	for _, a := range attempts.Data {
		secrets["attempt "+a.Token] = a.Token
	}

	listA := wpath(tenantA, "/list?extended=true")
	beforeList := h.must(http.StatusOK, http.MethodGet, listA, adminToken, nil).body
	beforeHistory := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whA+"/history"), adminToken, nil).body
	beforeDiverted := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whDiv+"/diverted"), adminToken, nil).body
	beforeSecret := expect(t, h.v1(http.MethodGet, "/v1/event_subscriptions/"+subA.Token+"/secret", tokA, nil), http.StatusOK).body
	okBefore, failingBefore := len(ok.requests()), len(failing.requests())

	webhookPatch := `{"name":"hijacked","endpoint":{"url":"` + ok.url("/hijacked") + `"}}`
	webhookCreate := `{"name":"planted","endpoint":{"url":"` + ok.url("/planted") + `"}}`
	event := `{"type":"policy.issue","data":{"planted":true}}`
	subPatch := `{"url":"` + ok.url("/hijacked") + `","disabled":true}`
	type attempt struct {
		method, path, body string
		want               []int
	}
	forbidden, notFound, badTenant, own := []int{403}, []int{404}, []int{400}, []int{200}
	ownOrNotOfList := []int{200, 400} // a cursor naming another tenant's item: B's page, or "not an item of this list"

	var socotra []attempt
	for _, tenant := range []string{tenantA, tenantB} {
		// Under A's path the token is refused (403); under B's own path A's locators do not exist (404).
		want := forbidden
		if tenant == tenantB {
			want = notFound
		}
		w := func(rest string) string { return wpath(tenant, rest) }
		socotra = append(socotra,
			attempt{http.MethodGet, w("/" + whA), "", want},
			attempt{http.MethodGet, w("/" + subA.Token), "", want},
			attempt{http.MethodPatch, w("/" + whA), webhookPatch, want},
			attempt{http.MethodDelete, w("/" + whA), "", want},
			attempt{http.MethodDelete, w("/" + subA.Token), "", want},
			attempt{http.MethodPatch, w("/" + whDiv + "/unsuspend"), "", want},
			attempt{http.MethodGet, w("/" + whA + "/history"), "", want},
			attempt{http.MethodGet, w("/" + whDiv + "/history"), "", want},
			attempt{http.MethodGet, w("/" + whDiv + "/diverted"), "", want},
			attempt{http.MethodGet, w("/" + whDiv + "/diverted/" + evA.Locator), "", want},
			attempt{http.MethodPost, w("/" + whDiv + "/diverted/" + evA.Locator + "/resend"), "", want},
			attempt{http.MethodDelete, w("/" + whDiv + "/diverted/" + evA.Locator), "", want},
			// B's webhook with A's event.
			attempt{http.MethodGet, w("/" + whB + "/diverted/" + evA.Locator), "", want},
			attempt{http.MethodPost, w("/" + whB + "/diverted/" + evA.Locator + "/resend"), "", want},
			attempt{http.MethodGet, "/event/" + tenant + "/events/" + evA.Locator, "", want},
			attempt{http.MethodGet, "/event/" + tenant + "/events/" + evKeyed.Locator, "", want},
		)
	}
	socotra = append(socotra,
		attempt{http.MethodGet, wpath(tenantA, "/list"), "", forbidden},
		attempt{http.MethodGet, wpath(tenantA, "/list?extended=true"), "", forbidden},
		attempt{http.MethodPost, wpath(tenantA, ""), webhookCreate, forbidden},
		attempt{http.MethodPost, "/event/" + tenantA + "/events", event, forbidden},
		attempt{http.MethodGet, "/event/" + tenantA + "/events/list", "", forbidden},
		attempt{http.MethodGet, "/admin/tokens", "", forbidden},
		attempt{http.MethodPost, "/admin/tokens", `{"name":"x","tenants":["` + tenantA + `"],"permissions":["*"]}`, forbidden},
		attempt{http.MethodDelete, "/admin/tokens/" + tokALoc, "", forbidden},
		// B's own lists answer, with B's data only.
		attempt{http.MethodGet, wpath(tenantB, "/list?extended=true"), "", own},
		attempt{http.MethodGet, wpath(tenantB, "/"+whB+"/diverted"), "", own},
		attempt{http.MethodGet, "/event/" + tenantB + "/events/list", "", own},
		attempt{http.MethodGet, "/event/" + tenantB + "/events/list?type=policy.issue&type=card.created", "", own},
	)

	v1Paths := []attempt{
		{http.MethodGet, "/v1/event_subscriptions/" + subA.Token, "", notFound},
		{http.MethodGet, "/v1/event_subscriptions/" + whA, "", notFound},
		{http.MethodPatch, "/v1/event_subscriptions/" + subA.Token, subPatch, notFound},
		{http.MethodPatch, "/v1/event_subscriptions/" + whA, subPatch, notFound},
		{http.MethodDelete, "/v1/event_subscriptions/" + subA.Token, "", notFound},
		{http.MethodGet, "/v1/event_subscriptions/" + whA + "/attempts", "", notFound},
		{http.MethodGet, "/v1/event_subscriptions/" + whDiv + "/attempts?status=FAILED", "", notFound},
		{http.MethodPost, "/v1/event_subscriptions/" + whDiv + "/recover", "", notFound},
		{http.MethodPost, "/v1/event_subscriptions/" + whA + "/replay_missing", "", notFound},
		{http.MethodGet, "/v1/event_subscriptions/" + whA + "/secret", "", notFound},
		{http.MethodGet, "/v1/event_subscriptions/" + subA.Token + "/secret", "", notFound},
		{http.MethodPost, "/v1/event_subscriptions/" + subA.Token + "/secret/rotate", "", notFound},
		{http.MethodGet, "/v1/events/" + evA.Locator, "", notFound},
		{http.MethodGet, "/v1/events/" + evKeyed.Locator, "", notFound},
		{http.MethodGet, "/v1/events/" + evA.Locator + "/attempts", "", notFound},
		{http.MethodPost, "/v1/events/" + evA.Locator + "/event_subscriptions/" + whA + "/resend", "", notFound},
		{http.MethodPost, "/v1/events/" + evA.Locator + "/event_subscriptions/" + whB + "/resend", "", notFound},
		{http.MethodPost, "/v1/events/" + evB.Locator + "/event_subscriptions/" + whA + "/resend", "", notFound},
		{http.MethodPost, "/v1/simulate/event_subscriptions/" + whA + "/send_example", "", notFound},
		{http.MethodPost, "/v1/simulate/event_subscriptions/" + subA.Token + "/send_example", `{"event_type":"card.created"}`, notFound},
		// B's own lists, even with A's tokens as cursors.
		{http.MethodGet, "/v1/event_subscriptions", "", own},
		{http.MethodGet, "/v1/event_subscriptions?starting_after=" + whA, "", ownOrNotOfList},
		{http.MethodGet, "/v1/event_subscriptions?ending_before=" + subA.Token, "", ownOrNotOfList},
		{http.MethodGet, "/v1/events", "", own},
		{http.MethodGet, "/v1/events?event_types=card.created", "", own},
		{http.MethodGet, "/v1/events?starting_after=" + evA.Locator, "", ownOrNotOfList},
		{http.MethodGet, "/v1/events?ending_before=" + evKeyed.Locator, "", ownOrNotOfList},
		{http.MethodGet, "/v1/event_subscriptions/" + whB + "/attempts", "", own},
		{http.MethodGet, "/v1/events/" + evB.Locator + "/attempts", "", own},
		{http.MethodPost, "/v1/event_subscriptions", `{"url":"` + ok.url("/b-own") + `"}`, []int{201}},
	}

	check := func(t *testing.T, method, path, body string, want []int, v1 bool, header ...string) {
		t.Helper()
		a := h.hostileDo(method, path, []byte(body), header...)
		if a.err != nil {
			t.Errorf("%s %s: %v", method, path, a.err)
			return
		}
		if !slices.Contains(want, a.status) {
			t.Errorf("%s %s: status %d, want %v: %.300s", method, path, a.status, want, a.body)
		}
		if a.status >= 400 {
			if p := a.problem(v1); p != "" {
				t.Errorf("%s %s: %s", method, path, p)
			}
		}
		for what, s := range secrets {
			if strings.Contains(string(a.body), s) && !strings.Contains(path, s) && !strings.Contains(body, s) {
				t.Errorf("%s %s (status %d) shows %s: %.300s", method, path, a.status, what, a.body)
			}
		}
	}
	// The keyed event of A does not make B's event with the same key a duplicate.
	t.Run("idempotency keys are per tenant", func(t *testing.T) {
		r := h.hostileDo(http.MethodPost, "/event/"+tenantB+"/events", []byte(`{"type":"card.created","data":{"b":1}}`),
			"Authorization", "Bearer "+tokB, "Idempotency-Key", "shared-key")
		if r.status != http.StatusAccepted {
			t.Fatalf("B's keyed event: %d %s", r.status, r.body)
		}
		if e := decodeEvent(t, r.body); e.Locator == evKeyed.Locator || e.Tenant != tenantB || strings.Contains(string(r.body), "tenant-a") {
			t.Fatalf("B's event with A's idempotency key answered %s", r.body)
		}
	})
	t.Run("Socotra routes", func(t *testing.T) {
		for _, bearer := range []string{"Bearer " + tokB, tokB} {
			for _, a := range socotra {
				check(t, a.method, a.path, a.body, a.want, false, "Authorization", bearer)
			}
		}
	})
	t.Run("v1 routes", func(t *testing.T) {
		for _, a := range v1Paths {
			check(t, a.method, a.path, a.body, a.want, true, "Authorization", tokB)
			check(t, a.method, a.path, a.body, a.want, true, "Authorization", tokB, "Hookstream-Tenant", tenantB)
		}
	})
	t.Run("v1 routes naming tenant A", func(t *testing.T) {
		for _, a := range v1Paths {
			check(t, a.method, a.path, a.body, badTenant, true, "Authorization", tokB, "Hookstream-Tenant", tenantA)
		}
	})
	t.Run("A's locators as B's cursors show nothing of A", func(t *testing.T) {
		// Also with a token that serves both tenants but names B: A's data stays A's.
		both, _ := h.mintToken([]string{tenantA, tenantB}, "*")
		for _, a := range v1Paths {
			check(t, a.method, a.path, a.body, a.want, true, "Authorization", both, "Hookstream-Tenant", tenantB)
		}
	})

	// Nothing of A changed, and nothing was sent on A's behalf.
	time.Sleep(300 * time.Millisecond) // resends and jobs are asynchronous: give a wrongly accepted one time to show
	if after := h.must(http.StatusOK, http.MethodGet, listA, adminToken, nil).body; string(after) != string(beforeList) {
		t.Errorf("A's webhooks changed:\nbefore %s\nafter  %s", beforeList, after)
	}
	if after := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whA+"/history"), adminToken, nil).body; string(after) != string(beforeHistory) {
		t.Errorf("A's history changed:\nbefore %s\nafter  %s", beforeHistory, after)
	}
	if after := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whDiv+"/diverted"), adminToken, nil).body; string(after) != string(beforeDiverted) {
		t.Errorf("A's diverted records changed:\nbefore %s\nafter  %s", beforeDiverted, after)
	}
	if after := expect(t, h.v1(http.MethodGet, "/v1/event_subscriptions/"+subA.Token+"/secret", tokA, nil), http.StatusOK).body; string(after) != string(beforeSecret) {
		t.Error("A's subscription secret changed")
	}
	h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/"+evA.Locator, adminToken, nil)
	// B's own subscription creation delivered nothing; only the resend of B's own event to B's webhook may
	// have reached the receiver, at B's path.
	for _, r := range ok.requests()[okBefore:] {
		if r.path != "/tenant-b" {
			t.Errorf("a request on A's behalf reached %s: %s", r.path, r.body)
		}
	}
	if n := len(failing.requests()); n != failingBefore {
		t.Errorf("A's failing endpoint got %d more requests", n-failingBefore)
	}
}

// TestSecurityNoSecretsInLogsOrMetrics runs a full flow at debug level and then searches every log line and
// the metrics for every token, webhook secret and signature involved.
func TestSecurityNoSecretsInLogsOrMetrics(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.LogLevel = "debug" })
	rc, failing, alerts := newReceiver(t), newReceiver(t), newReceiver(t)
	failing.setAnswer(func(int) int { return http.StatusInternalServerError })
	alerts.setAnswer(func(int) int { return http.StatusBadGateway }) // so that the refused alert is logged
	var sensitive []string
	secret := func(s string) {
		sensitive = append(sensitive, s)
		if key, ok := strings.CutPrefix(s, "whsec_"); ok {
			sensitive = append(sensitive, key)
		}
	}
	secret(adminToken)

	writer, _ := h.mintToken([]string{tenantA}, "*")
	reader, _ := h.mintToken([]string{tenantA}, "webhooks.read", "events.read")
	shortLived, shortLoc := h.mintToken([]string{tenantA}, "events.write")
	for _, s := range []string{writer, reader, shortLived} {
		secret(s)
	}
	// A token that does not exist (a typo of a real one, say) is as sensitive as a real one.
	typo := writer[:len(writer)-1] + "x"
	secret(typo)
	expect(t, h.v1(http.MethodGet, "/v1/events", typo, nil), http.StatusUnauthorized)
	h.must(http.StatusUnauthorized, http.MethodGet, wpath(tenantA, "/list"), typo, nil)

	// Webhooks with explicit secrets, an alert endpoint with its own, and a generated one.
	s1, s2, s3 := newSecret(t), newSecret(t), newSecret(t)
	for _, s := range []string{s1, s2, s3} {
		secret(s)
	}
	created := h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), writer, map[string]any{
		"name": "signed", "endpoint": map[string]any{"url": rc.url("/signed"), "secret": s1}, "eventTypes": []string{"policy.issue"},
	}).object(t)
	signed := created["locator"].(string)
	created = h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), writer, map[string]any{
		"name": "failing", "endpoint": map[string]any{"url": failing.url("/failing"), "secret": s2}, "eventTypes": []string{"policy.issue"},
		"failureHandling": map[string]any{"triggers": []string{"5xx"}, "divert": true, "suspend": true,
			"alertEndpoint": map[string]any{"url": alerts.url("/alerts"), "secret": s3}},
	}).object(t)
	failingLoc := created["locator"].(string)
	var sub v1Sub
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", writer, map[string]any{"url": rc.url("/v1"), "event_types": []string{"card.created"}}),
		http.StatusCreated).json(t, &sub)
	subSecret := func() string {
		var s struct {
			Secret string `json:"secret"`
		}
		expect(t, h.v1(http.MethodGet, "/v1/event_subscriptions/"+sub.Token+"/secret", writer, nil), http.StatusOK).json(t, &s)
		return s.Secret
	}
	secret(subSecret())
	// Rotate through /v1, and set a new secret through a PATCH (the old one stays valid for a while).
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions/"+sub.Token+"/secret/rotate", writer, nil), http.StatusNoContent)
	secret(subSecret())
	s4 := newSecret(t)
	secret(s4)
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+signed), writer, map[string]any{"endpoint": map[string]any{"secret": s4}})
	// A refused secret is still a secret.
	bad := "whsec_" + base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!")) // 16 bytes: too short a key
	secret(bad)
	h.must(http.StatusBadRequest, http.MethodPatch, wpath(tenantA, "/"+signed), writer, map[string]any{"endpoint": map[string]any{"secret": bad}})

	// Deliver signed events, fail one finally (divert, suspend, alert), send an example, and revoke a token.
	h.must(http.StatusAccepted, http.MethodPost, "/event/"+tenantA+"/events", shortLived, map[string]any{"type": "policy.issue", "data": map[string]any{"n": 1}})
	h.must(http.StatusAccepted, http.MethodPost, "/event/"+tenantA+"/events", writer, map[string]any{"type": "card.created", "data": map[string]any{"n": 2}})
	expect(t, h.v1(http.MethodPost, "/v1/simulate/event_subscriptions/"+signed+"/send_example", writer, map[string]any{"event_type": "policy.issue"}), http.StatusAccepted)
	rc.waitFor(t, 3, 10*time.Second)
	alerts.waitFor(t, 1, 10*time.Second)
	failing.waitFor(t, 1, 10*time.Second)
	eventually(t, 10*time.Second, "the failing webhook suspended", func() bool {
		return h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+failingLoc), reader, nil).object(t)["suspended"] == true
	})
	h.must(http.StatusNoContent, http.MethodDelete, "/admin/tokens/"+shortLoc, adminToken, nil)
	h.must(http.StatusUnauthorized, http.MethodPost, "/event/"+tenantA+"/events", shortLived, map[string]any{"type": "policy.issue", "data": map[string]any{}})
	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+failingLoc+"/unsuspend"), writer, nil)
	h.must(http.StatusOK, http.MethodGet, "/admin/tokens", adminToken, nil)
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list?extended=true"), writer, nil)
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+signed+"/history"), reader, nil)

	var signatures int
	for _, r := range append(append(rc.requests(), failing.requests()...), alerts.requests()...) {
		for _, sig := range strings.Fields(r.header.Get("webhook-signature")) {
			signatures++
			sensitive = append(sensitive, sig)
			if _, b64, ok := strings.Cut(sig, ","); ok {
				sensitive = append(sensitive, b64)
			}
		}
	}
	if signatures < 5 {
		t.Fatalf("only %d signatures seen", signatures)
	}
	metrics := h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil).body
	h.stop() // every log line written, including shutdown's
	logs := h.logs.String()
	if !strings.Contains(logs, `level=DEBUG msg="http request"`) || !strings.Contains(logs, "failure alert not accepted") {
		t.Fatalf("the log lacks the debug lines of requests or the warning of the refused alert (%d bytes)", len(logs))
	}
	for _, s := range sensitive {
		if len(s) < 16 {
			t.Fatalf("sensitive value %q too short to search for", s)
		}
		if i := strings.Index(logs, s); i >= 0 {
			line := logs[strings.LastIndex(logs[:i], "\n")+1:]
			line, _, _ = strings.Cut(line, "\n")
			t.Errorf("the log shows a secret (%.12s…): %.400s", s, line)
		}
		if strings.Contains(string(metrics), s) {
			t.Errorf("the metrics show a secret (%.12s…)", s)
		}
	}
	t.Logf("searched %d KiB of log and %d KiB of metrics for %d secrets (%d signatures)", len(logs)>>10, len(metrics)>>10, len(sensitive), signatures)
}

// TestSecurityRevocationIsImmediate checks that a revoked token is refused by the very next request, on
// every face, and that revocation is not undone or delayed by anything cached.
func TestSecurityRevocationIsImmediate(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.RateLimit = 1000 }) // the limiter authenticates too: it must not cache
	for i := range 5 {
		tok, loc := h.mintToken([]string{tenantA}, "*")
		// Warm every path the token takes.
		for range 3 {
			h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), tok, nil)
			expect(t, h.v1(http.MethodGet, "/v1/events", tok, nil), http.StatusOK)
		}
		h.must(http.StatusNoContent, http.MethodDelete, "/admin/tokens/"+loc, adminToken, nil)
		if i%2 == 0 {
			h.must(http.StatusUnauthorized, http.MethodGet, wpath(tenantA, "/list"), tok, nil)
		} else {
			expect(t, h.v1(http.MethodGet, "/v1/events", tok, nil), http.StatusUnauthorized)
		}
		h.must(http.StatusUnauthorized, http.MethodPost, "/event/"+tenantA+"/events", tok, map[string]any{"type": "a.b", "data": map[string]any{}})
		expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions", tok, map[string]any{"url": "https://example.com"}), http.StatusUnauthorized)
		r := h.must(http.StatusNotFound, http.MethodDelete, "/admin/tokens/"+loc, adminToken, nil)
		if strings.Contains(string(r.body), tok) {
			t.Fatalf("the answer shows the token: %s", r.body)
		}
	}
	// Still refused after a restart: revocation is in the stream, not only in memory.
	tok, loc := h.mintToken([]string{tenantA}, "webhooks.read")
	h.must(http.StatusNoContent, http.MethodDelete, "/admin/tokens/"+loc, adminToken, nil)
	h.restart()
	h.must(http.StatusUnauthorized, http.MethodGet, wpath(tenantA, "/list"), tok, nil)
}

// TestRateLimitEndToEnd runs the engine with --rate-limit 5: a burst of one token gets 429 with Retry-After
// in the shape of each face, another token is unaffected, and probes are never limited.
func TestRateLimitEndToEnd(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.RateLimit = 5 })
	one, _ := h.mintToken([]string{tenantA}, "*")
	two, _ := h.mintToken([]string{tenantA}, "*")

	var limited *hostileAnswer
	allowed := 0
	for range 30 {
		a := h.hostileDo(http.MethodGet, wpath(tenantA, "/list"), nil, "Authorization", "Bearer "+one)
		if a.status == http.StatusTooManyRequests {
			limited = &a
			break
		}
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		allowed++
	}
	if limited == nil || allowed < 5 || allowed > 7 {
		t.Fatalf("%d requests allowed before a 429 (limited: %v), want the burst of 5", allowed, limited != nil)
	}
	var body map[string]any
	if err := json.Unmarshal(limited.body, &body); err != nil || body["code"] != "rate_limited" || body["message"] == "" {
		t.Fatalf("429 body %s", limited.body)
	}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/v1/event_subscriptions", nil)
	req.Header.Set("Authorization", one)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 {
		t.Fatalf("/v1: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	v1 := h.hostileDo(http.MethodGet, "/v1/events", nil, "Authorization", one)
	if v1.status != http.StatusTooManyRequests {
		t.Fatalf("/v1: status %d", v1.status)
	}
	if p := v1.problem(true); p != "" {
		t.Fatalf("/v1 429: %s", p)
	}

	// Another token, and the probes, are unaffected.
	for range 4 {
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), two, nil)
	}
	for range 50 {
		h.must(http.StatusOK, http.MethodGet, "/healthz", one, nil)
		h.must(http.StatusOK, http.MethodGet, "/readyz", "", nil)
	}
	h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil)
	metrics := string(h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil).body)
	if !strings.Contains(metrics, `code="429"`) {
		t.Error("the metrics do not count the 429s")
	}
	// After the announced wait, the token may go on.
	time.Sleep(time.Duration(retry) * time.Second)
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), one, nil)
}
