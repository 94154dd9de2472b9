package test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// screenshotsEnv names the folder TestConsoleScreenshots writes to; unset, the test is skipped.
const screenshotsEnv = "HOOKSTREAM_SCREENSHOTS"

// TestConsoleScreenshots fills a tenant with webhooks in every state, events and attempts, then writes a
// full-page PNG of each console page at desktop (1280×800) and phone (390×844) sizes to the folder named by
// HOOKSTREAM_SCREENSHOTS.
func TestConsoleScreenshots(t *testing.T) {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		t.Skipf("set %s to a folder to write the console's screenshots", screenshotsEnv)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := startEngine(t)
	var n atomic.Int64
	// The receivers answer after a short, varying pause, so the latency chart has a spread to show.
	answer := func(fail func(int64) bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			i := n.Add(1)
			time.Sleep(time.Duration(5+i%7*6) * time.Millisecond)
			if fail(i) {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"upstream unavailable"}`))
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	ok := answer(func(int64) bool { return false })
	flaky := answer(func(i int64) bool { return i%4 == 0 })
	down := answer(func(int64) bool { return true })

	orders := h.createWebhook(tenantA, map[string]any{"name": "Orders service", "endpoint": map[string]any{
		"url": ok.URL + "/hooks/orders", "headers": map[string][]string{"X-Team": {"checkout"}}},
		"eventTypes":      []string{"order.created", "order.paid"},
		"failureHandling": map[string]any{"divert": true, "retryStrategy": map[string]any{"attempts": 3, "interval": 60, "type": "exponential"}}})
	h.createWebhook(tenantA, map[string]any{"name": "Billing ledger", "endpoint": map[string]any{"url": flaky.URL + "/ledger"},
		"eventTypes": []string{"order.paid", "invoice.created"}, "failureHandling": map[string]any{"divert": true}})
	shipping := h.createWebhook(tenantA, map[string]any{"name": "Shipping partner", "endpoint": map[string]any{"url": down.URL + "/v2/webhooks"},
		"eventTypes": []string{"order.paid"}, "failureHandling": map[string]any{"divert": true, "suspend": true}})
	h.createWebhook(tenantA, map[string]any{"name": "Legacy CRM", "enabled": false, "endpoint": map[string]any{"url": ok.URL + "/crm"}})
	types := []string{"order.created", "order.paid", "invoice.created", "order.created"}
	var last eventJSON
	for i := range 24 {
		last = h.publishHTTP(tenantA, types[i%len(types)], map[string]any{
			"id": "ord_" + string(rune('a'+i)), "amount": 1250 + i*10, "currency": "EUR",
			"customer": map[string]any{"id": "cus_42", "email": "ada@example.com"}, "items": []any{map[string]any{"sku": "SKU-7", "qty": 2}},
		})
	}
	eventually(t, 20*time.Second, "the shipping webhook suspended", func() bool {
		var w struct {
			Suspended bool `json:"suspended"`
		}
		h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+shipping), adminToken, nil).json(t, &w)
		return w.Suspended
	})
	waitAttempt(t, h, orders, "SUCCESS")
	h.mintToken([]string{tenantA}, "events.write")
	h.mintToken([]string{tenantA}, "webhooks.read", "webhooks.list", "events.read", "events.list")

	b := newBrowser(t, h)
	pages := []struct{ name, fragment, ready string }{
		{"overview", "#/overview", `document.querySelector('.tile')`},
		{"webhooks", "#/webhooks", `document.querySelector('table.webhooks')`},
		{"webhook", "#/webhooks/" + orders, `document.querySelector('svg.chart') && document.querySelector('table.attempts')`},
		{"webhook-suspended", "#/webhooks/" + shipping, `document.querySelector('tr[data-diverted]')`},
		{"events", "#/events", `document.querySelector('main table')`},
		{"event", "#/events/" + last.Locator, `document.querySelector('pre.payload') && document.querySelector('.sub')`},
		{"tokens", "#/tokens", `document.querySelector('main table')`},
	}
	sizes := []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}}
	shot := func(name string, w, minH int64) {
		t.Helper()
		// The viewport grows to the page's height for the capture, so the whole page is in the picture.
		height := max(minH, int64(eval[float64](b, `document.documentElement.scrollHeight`)))
		b.run(chromedp.EmulateViewport(w, height))
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		b.run(chromedp.EmulateViewport(w, minH))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range sizes {
		b.run(chromedp.EmulateViewport(size.w, size.h))
		b.open("")
		b.run(chromedp.WaitVisible(fieldXPath("Token")))
		shot("signin-"+size.name, size.w, size.h)
		b.signIn(adminToken, tenantA)
		for _, p := range pages {
			b.open(p.fragment)
			b.waitJS(15*time.Second, p.name+" ready", p.ready)
			shot(p.name+"-"+size.name, size.w, size.h)
		}
		b.run(chromedp.Click(buttonXPath("Sign out")))
	}
	// The same pages in the dark scheme, as a system set to dark mode shows them.
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	b.run(chromedp.EmulateViewport(1280, 800))
	b.signIn(adminToken, tenantA)
	for _, p := range pages[:3] {
		b.open(p.fragment)
		b.waitJS(15*time.Second, p.name+" ready", p.ready)
		shot(p.name+"-dark", 1280, 800)
	}
	t.Logf("screenshots in %s", dir)
}
