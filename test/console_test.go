package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// liveWithin is how soon a new attempt must show on an open webhook page, without a reload.
const liveWithin = 2 * time.Second

// TestConsoleServedWithStrictHeaders checks the console's assets are served from the binary with a policy
// that forbids inline script, other origins and framing.
func TestConsoleServedWithStrictHeaders(t *testing.T) {
	h := startEngine(t)
	for _, path := range []string{"/console/", "/console/app.js", "/console/app.css"} {
		r := h.must(http.StatusOK, http.MethodGet, path, "", nil)
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q allows inline script or eval", path, csp)
		}
		if got := r.header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", path, got)
		}
	}
	index := string(h.must(http.StatusOK, http.MethodGet, "/console/", "", nil).body)
	if strings.Contains(index, "<script>") || strings.Contains(index, "http://") || strings.Contains(index, "https://") {
		t.Errorf("index has an inline script or a reference to another origin:\n%s", index)
	}
	h.must(http.StatusOK, http.MethodGet, "/console", "", nil) // redirected to /console/
}

// TestConsoleWebhookLifecycle drives the console as an operator: sign in, create a webhook through the form,
// watch attempts arrive live, let a failure divert an event and suspend the webhook, unsuspend, resend the
// diverted event, and rotate the secret.
func TestConsoleWebhookLifecycle(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	b := newBrowser(t, h)
	b.signIn(adminToken, tenantA)

	b.clickLink("Webhooks")
	b.waitText(10*time.Second, "No webhooks yet.")
	b.click("Create webhook")
	b.fill("Name", "orders")
	b.fill("Endpoint URL", rc.url("/orders"))
	b.fill("Event types", "order.created, order.paid")
	b.run(chromedp.Click(`//label[starts-with(normalize-space(), "Divert")]`), chromedp.Click(`//label[starts-with(normalize-space(), "Suspend")]`))
	b.click("Create")
	b.run(chromedp.WaitVisible(`//table//a[normalize-space()="orders"]`))
	firstSecret := eval[string](b, `document.querySelector('.secret-value').textContent`)
	if !strings.HasPrefix(firstSecret, "whsec_") {
		t.Fatalf("secret shown at creation: %q", firstSecret)
	}
	var list struct {
		Items []struct {
			Locator    string   `json:"locator"`
			EventTypes []string `json:"eventTypes"`
		} `json:"items"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), adminToken, nil).json(t, &list)
	if len(list.Items) != 1 || strings.Join(list.Items[0].EventTypes, ",") != "order.created,order.paid" {
		t.Fatalf("webhooks after the form: %+v", list.Items)
	}
	loc := list.Items[0].Locator

	b.clickLink("orders")
	for _, heading := range []string{"Attempts", "Diverted events", "History"} {
		b.run(chromedp.WaitVisible(fmt.Sprintf(`//h2[normalize-space()=%q]`, heading)))
	}
	b.waitText(5*time.Second, "No attempts yet.")

	// A delivered event shows on the open page within the live bound.
	ev := h.publishHTTP(tenantA, "order.created", map[string]any{"id": "o-1"})
	rc.waitFor(t, 1, 10*time.Second)
	id := waitAttempt(t, h, loc, "SUCCESS")
	shown := time.Now()
	b.waitJS(liveWithin, "the new attempt on the page", `document.querySelector('tr[data-attempt="`+id+`"]')`)
	t.Logf("attempt shown %s after the API listed it", time.Since(shown).Round(time.Millisecond))
	b.waitJS(5*time.Second, "SUCCESS status", `document.querySelector('tr[data-attempt="`+id+`"]').innerText.includes("SUCCESS")`)
	b.waitText(5*time.Second, ev.Locator)

	// The receiver fails: the event is diverted and the webhook suspended.
	rc.setAnswer(func(int) int { return http.StatusInternalServerError })
	failed := h.publishHTTP(tenantA, "order.paid", map[string]any{"id": "o-2"})
	b.waitJS(15*time.Second, "the diverted event", `document.querySelector('tr[data-diverted="`+failed.Locator+`"]')`)
	b.waitText(5*time.Second, "FAILED")
	b.waitJS(5*time.Second, "the Suspended state", `document.querySelector('h1').innerText.includes("Suspended")`)
	if b.buttons("Resend") != 1 || b.buttons("Delete") != 1 {
		t.Fatalf("diverted row lacks Resend or Delete:\n%s", b.text())
	}

	rc.setAnswer(nil)
	b.click("Unsuspend")
	b.waitJS(10*time.Second, "the Active state", `document.querySelector('h1').innerText.includes("Active")`)
	if b.buttons("Unsuspend") != 0 {
		t.Fatal("Unsuspend still offered on an active webhook")
	}

	before := len(rc.requests())
	b.click("Resend")
	eventually(t, 15*time.Second, "the resent event at the receiver", func() bool {
		for _, r := range rc.requests()[before:] {
			if r.status == http.StatusOK && strings.Contains(string(r.body), failed.Locator) {
				return true
			}
		}
		return false
	})
	b.waitText(15*time.Second, "No diverted events.")

	b.click("Rotate secret")
	b.waitText(10*time.Second, "New signing secret, shown only now")
	rotated := eval[string](b, `document.querySelector('.secret-value').textContent`)
	var secret struct {
		Secret string `json:"secret"`
	}
	writer, _ := h.mintToken([]string{tenantA}, "webhooks.write")
	h.must(http.StatusOK, http.MethodGet, "/v1/event_subscriptions/"+loc+"/secret", writer, nil).json(t, &secret)
	if rotated == firstSecret || rotated != secret.Secret {
		t.Fatalf("rotated secret shown %q, first %q, API %q", rotated, firstSecret, secret.Secret)
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}

// waitAttempt waits until the API lists an attempt of webhook with status and returns the newest one's
// locator.
func waitAttempt(t *testing.T, h *harness, webhook, status string) string {
	t.Helper()
	var id string
	eventually(t, 15*time.Second, status+" attempt in the API", func() bool {
		var page struct {
			Attempts []struct {
				Locator string `json:"locator"`
			} `json:"attempts"`
		}
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+webhook+"/attempts?status="+status), adminToken, nil).json(t, &page)
		if len(page.Attempts) == 0 {
			return false
		}
		id = page.Attempts[0].Locator
		return true
	})
	return id
}

// TestConsoleShowsHostileTextAsText gives the console a webhook name, a header, a payload and a response body
// that are HTML and script: each must show as text and nothing may run.
func TestConsoleShowsHostileTextAsText(t *testing.T) {
	const (
		name    = `<img src=x onerror=alert(1)>`
		script  = `<script>alert(2)</script>`
		answer  = `<svg onload=alert(3)></svg>`
		headerV = `<iframe src=javascript:alert(4)>`
	)
	h := startEngine(t)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(hostile.Close)
	loc := h.createWebhook(tenantA, webhookBody(name, hostile.URL+"/hook", map[string]any{
		"endpoint": map[string]any{"url": hostile.URL + "/hook", "headers": map[string][]string{"X-Note": {headerV}}},
	}))
	ev := h.publishHTTP(tenantA, "order.created", map[string]any{"note": script, "img": name})
	waitAttempt(t, h, loc, "SUCCESS")

	b := newBrowser(t, h)
	b.signIn(adminToken, tenantA)
	b.open("#/webhooks")
	b.waitJS(10*time.Second, "the hostile name as a link's text", `[...document.querySelectorAll('table a')].some(a => a.textContent === `+strconv.Quote(name)+`)`)

	b.open("#/webhooks/" + loc)
	b.waitJS(10*time.Second, "the hostile name as the heading's text", `document.querySelector('h1').textContent.includes(`+strconv.Quote(name)+`)`)
	b.waitText(10*time.Second, headerV)
	b.waitText(10*time.Second, "SUCCESS")
	b.click("Details")
	b.waitText(10*time.Second, answer)

	b.open("#/events/" + ev.Locator)
	b.waitJS(10*time.Second, "the payload as text", `document.querySelector('pre.payload') && document.querySelector('pre.payload').textContent.includes(`+strconv.Quote(script)+`)`)
	b.waitText(10*time.Second, name) // the attempts' webhook link

	for what, expr := range map[string]string{
		"an image from the name":      `document.querySelectorAll('img[src="x"]').length`,
		"a script beyond the console": `document.querySelectorAll('script').length - 1`,
		"an svg from the response":    `[...document.querySelectorAll('svg')].filter(s => s.getAttribute('onload')).length`,
		"an iframe from the header":   `document.querySelectorAll('iframe').length`,
	} {
		if n := eval[int](b, expr); n != 0 {
			t.Errorf("the page holds %s (%d)", what, n)
		}
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened", n)
	}
}

// TestConsoleReadOnlyTokenSeesNoWriteButtons signs in with a token that may only read and list, and checks
// that no page offers an action it may not take.
func TestConsoleReadOnlyTokenSeesNoWriteButtons(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(func(int) int { return http.StatusServiceUnavailable })
	loc := h.createWebhook(tenantA, webhookBody("billing", rc.url("/billing"), map[string]any{
		"failureHandling": map[string]any{"divert": true, "suspend": true},
	}))
	ev := h.publishHTTP(tenantA, "invoice.created", map[string]any{"id": "i-1"})
	eventually(t, 15*time.Second, "the diverted event", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+ev.Locator), adminToken, nil).status == http.StatusOK
	})
	reader, _ := h.mintToken([]string{tenantA}, "webhooks.read", "webhooks.list", "events.read", "events.list",
		"diverted-events.read", "diverted-events.list")

	b := newBrowser(t, h)
	b.signIn(reader, "")
	if n := eval[int](b, `[...document.querySelectorAll('nav a')].filter(a => a.textContent === 'Tokens').length`); n != 0 {
		t.Error("a tenant token is offered the Tokens page")
	}
	b.clickLink("Webhooks")
	b.run(chromedp.WaitVisible(`//table//a[normalize-space()="billing"]`))
	if b.buttons("Create webhook") != 0 {
		t.Error("a read-only token is offered Create webhook")
	}
	b.clickLink("billing")
	b.waitJS(15*time.Second, "the diverted event", `document.querySelector('tr[data-diverted="`+ev.Locator+`"]')`)
	b.waitJS(10*time.Second, "the Suspended state", `document.querySelector('h1').innerText.includes("Suspended")`)
	b.waitText(10*time.Second, "FAILED")
	for _, name := range []string{"Edit", "Disable", "Enable", "Unsuspend", "Rotate secret", "Reveal secret", "Send example",
		"Delete webhook", "Delete", "Resend", "Resend all"} {
		if n := b.buttons(name); n != 0 {
			t.Errorf("a read-only token is offered %q", name)
		}
	}
	b.open("#/events/" + ev.Locator)
	b.waitText(10*time.Second, "invoice.created")
	b.waitText(10*time.Second, "billing")
	if n := b.buttons("Resend"); n != 0 {
		t.Error("a read-only token is offered Resend on the event page")
	}

	// A token that may list webhooks but not read one is told so once, on the page.
	lister, _ := h.mintToken([]string{tenantA}, "webhooks.list")
	b.click("Sign out")
	b.signIn(lister, "")
	b.open("#/webhooks/" + loc)
	b.waitText(10*time.Second, "token lacks permission webhooks.read")
}

// TestConsoleOperatorActions edits, disables and enables a webhook, sends an example, reveals the secret and
// deletes the webhook after confirming; searches events; and mints and revokes a token.
func TestConsoleOperatorActions(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	loc := h.createWebhook(tenantA, webhookBody("crm", rc.url("/crm"), map[string]any{"eventTypes": []string{"lead.created"}}))
	h.publishHTTP(tenantA, "lead.created", map[string]any{"id": "l-1"})
	h.publishHTTP(tenantA, "deal.won", map[string]any{"id": "d-1"})

	b := newBrowser(t, h)
	// The admin token without a tenant is asked for one, then signs in.
	b.open("")
	b.fill("Token", "not-a-token")
	b.click("Sign in")
	b.waitText(10*time.Second, "That token is not valid.")
	b.run(chromedp.SetValue(fieldXPath("Token"), adminToken))
	b.click("Sign in")
	b.waitText(10*time.Second, "name the one to open")
	b.fill("Tenant", tenantA)
	b.click("Sign in")
	b.run(chromedp.WaitVisible(`//a[normalize-space()="Overview"]`))
	b.open("#/webhooks/" + loc)
	b.waitJS(10*time.Second, "the webhook page", `document.querySelector('h1') && document.querySelector('h1').innerText.includes("crm")`)

	b.click("Edit")
	b.run(chromedp.WaitVisible(buttonXPath("Save")))
	b.run(chromedp.SetValue(fieldXPath("Name"), "crm-eu"), chromedp.SetValue(fieldXPath("Event types"), "lead.created, lead.lost"),
		chromedp.SetValue(fieldXPath("Custom headers"), "X-Region: eu"))
	b.click("Save")
	b.waitJS(10*time.Second, "the new name", `document.querySelector('h1').innerText.includes("crm-eu")`)
	var wh struct {
		Name       string                                `json:"name"`
		Enabled    bool                                  `json:"enabled"`
		EventTypes []string                              `json:"eventTypes"`
		Endpoint   struct{ Headers map[string][]string } `json:"endpoint"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil).json(t, &wh)
	if wh.Name != "crm-eu" || strings.Join(wh.EventTypes, ",") != "lead.created,lead.lost" || strings.Join(wh.Endpoint.Headers["X-Region"], ",") != "eu" {
		t.Fatalf("after the edit: %+v", wh)
	}

	b.click("Disable")
	b.waitJS(10*time.Second, "the Disabled state", `document.querySelector('h1').innerText.includes("Disabled")`)
	b.click("Enable")
	b.waitJS(10*time.Second, "the Active state", `document.querySelector('h1').innerText.includes("Active")`)

	before := len(rc.requests())
	b.click("Send example")
	rc.waitFor(t, before+1, 10*time.Second)

	b.click("Reveal secret")
	b.waitText(10*time.Second, "Signing secret:")
	if s := eval[string](b, `document.querySelector('.secret-value').textContent`); !strings.HasPrefix(s, "whsec_") || strings.Contains(s, "…") {
		t.Fatalf("revealed secret %q", s)
	}

	b.click("Delete webhook")
	b.run(chromedp.WaitVisible(buttonXPath("Yes, delete it")))
	b.click("Yes, delete it")
	b.waitText(10*time.Second, "No webhooks yet.")
	expect(t, h.do(http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil), http.StatusNotFound)

	b.clickLink("Events")
	b.waitText(10*time.Second, "deal.won")
	b.run(chromedp.SetValue(fieldXPath("Event type"), "deal.won"))
	b.click("Search")
	b.waitJS(10*time.Second, "only deal.won listed", `(() => { const t = document.querySelector('main tbody'); return t && t.innerText.includes('deal.won') && !t.innerText.includes('lead.created'); })()`)
	h.publishHTTP(tenantA, "deal.won", map[string]any{"id": "d-2"})
	b.waitJS(5*time.Second, "the new event appended", `document.querySelectorAll('main tbody tr').length === 2`)

	b.clickLink("Tokens")
	b.fill("Name", "reporting")
	b.click("Mint token")
	b.waitText(10*time.Second, "shown only now")
	secret := eval[string](b, `document.querySelector('.secret-value').textContent`)
	h.must(http.StatusOK, http.MethodGet, "/whoami", secret, nil)
	b.waitJS(10*time.Second, "the token listed", `document.querySelector('main tbody') && document.querySelector('main tbody').innerText.includes('reporting')`)
	b.click("Revoke")
	b.click("Revoke token")
	b.waitText(10*time.Second, "No tokens yet.")
	expect(t, h.do(http.MethodGet, "/whoami", secret, nil), http.StatusUnauthorized)

	b.click("Sign out")
	b.run(chromedp.WaitVisible(fieldXPath("Token")))
	if s := eval[string](b, `JSON.stringify(sessionStorage)`); strings.Contains(s, adminToken) {
		t.Fatal("the token stays in sessionStorage after signing out")
	}
}
