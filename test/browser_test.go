package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// requireBrowserEnv turns a missing Chromium from a skip into a failure (CI sets it).
const requireBrowserEnv = "HOOKSTREAM_REQUIRE_BROWSER"

// findChromium returns the path of a Chromium-like browser, or "".
func findChromium() string {
	if p := os.Getenv("HOOKSTREAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab driving the console of one engine.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	dialogs atomic.Int32
}

// newBrowser starts headless Chromium for the test, or skips the test when there is none.
func newBrowser(t *testing.T, h *harness) *browser {
	t.Helper()
	path := findChromium()
	if path == "" {
		msg := "browser tests need Chromium: install it with `apt-get install -y chromium` (or set HOOKSTREAM_CHROMIUM to a Chrome binary)"
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatalf("%s; %s is set, so this is a failure", msg, requireBrowserEnv)
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the context of that action: no timeout here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	b := &browser{t: t, ctx: ctx, base: h.base}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			// Any dialog means a script the page did not mean to run: count it and close it.
			b.dialogs.Add(1)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// run runs actions, failing the test with the page's text on error.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage text:\n%s", err, b.text())
	}
}

// text is the page's visible text.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// eval evaluates a JavaScript expression in b's page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it is true or timeout passes.
func (b *browser) waitJS(timeout time.Duration, what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s (%v)\npage text:\n%s", timeout, what, err, b.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitText waits until the page's text contains s.
func (b *browser) waitText(timeout time.Duration, s string) {
	b.t.Helper()
	b.waitJS(timeout, strconv.Quote(s), `document.body && document.body.innerText.includes(`+strconv.Quote(s)+`)`)
}

// buttonXPath selects a button by its name.
func buttonXPath(name string) string {
	return fmt.Sprintf(`//button[normalize-space()=%s]`, xpathString(name))
}

// fieldXPath selects the form control a label names.
func fieldXPath(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space()=%s]/@for]`, xpathString(label))
}

func xpathString(s string) string { return strconv.Quote(s) }

func (b *browser) click(button string) {
	b.t.Helper()
	b.run(chromedp.Click(buttonXPath(button)))
}

func (b *browser) clickLink(text string) {
	b.t.Helper()
	b.run(chromedp.Click(fmt.Sprintf(`//a[normalize-space()=%s]`, xpathString(text))))
}

func (b *browser) fill(label, value string) {
	b.t.Helper()
	b.run(chromedp.SendKeys(fieldXPath(label), value))
}

// buttons counts the visible buttons named name.
func (b *browser) buttons(name string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`[...document.querySelectorAll('button')].filter(x => x.textContent.trim() === %s && x.offsetParent !== null).length`,
		strconv.Quote(name)))
}

// open loads the console at fragment (e.g. "#/webhooks").
func (b *browser) open(fragment string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + "/console/" + fragment))
}

// signIn signs in with token and, when not empty, tenant.
func (b *browser) signIn(token, tenant string) {
	b.t.Helper()
	b.open("")
	b.run(chromedp.WaitVisible(fieldXPath("Token")))
	b.fill("Token", token)
	if tenant != "" {
		b.fill("Tenant", tenant)
	}
	b.click("Sign in")
	b.run(chromedp.WaitVisible(`//a[normalize-space()="Overview"]`))
}
