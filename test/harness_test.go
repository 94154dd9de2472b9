// Package test holds hookstream's end-to-end tests: each starts the real engine (embedded nats-server with
// JetStream on disk in a temp folder, a real bbolt file, HTTP on loopback) and talks to it as a client would.
package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
)

const (
	tenantA    = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"
	tenantB    = "0b8e1b9c-3f5a-4d2e-8c7b-1a2b3c4d5e6f"
	adminToken = "adm_test_token_0123456789"
)

// logBuffer collects the engine's log lines so tests can search them and failures can show them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// harness is one engine under test and a client for it.
type harness struct {
	t      *testing.T
	cfg    *config.Config
	engine *engine.Engine
	base   string
	logs   *logBuffer
	client *http.Client
}

// testConfig returns serve's defaults (config.Default) pointed at a temp folder and free loopback ports, with
// the loopback receivers allowed, a short delivery timeout, debug logs and fewer deliveries in flight.
func testConfig(t *testing.T) *config.Config {
	c := config.Default()
	c.HTTP, c.NATSListen, c.Data = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	c.AllowPrivateDestinations = true
	c.DeliveryTimeout = 2 * time.Second
	c.LogLevel = "debug"
	c.MaxInFlight, c.MaxInFlightPerEndpoint = 64, 8
	c.AdminToken = adminToken
	return c
}

// startEngine starts an engine with testConfig, changed by opts, and stops it when the test ends.
func startEngine(t *testing.T, opts ...func(*config.Config)) *harness {
	t.Helper()
	cfg := testConfig(t)
	for _, o := range opts {
		o(cfg)
	}
	h := &harness{t: t, cfg: cfg, logs: &logBuffer{}, client: checkedClient(t, 30*time.Second)}
	h.start()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("engine log:\n%s", tail(h.logs.String(), 8000))
		}
	})
	return h
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := engine.Start(ctx, h.cfg, log)
	if err != nil {
		h.t.Fatalf("start engine: %v\n%s", err, tail(h.logs.String(), 4000))
	}
	h.engine = e
	h.base = "http://" + e.HTTPAddr()
}

func (h *harness) stop() {
	if h.engine == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.engine.Stop(ctx); err != nil {
		h.t.Errorf("stop engine: %v", err)
	}
	h.engine = nil
}

// restart stops the engine and starts it again on the same data folder (new ports).
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.cfg.HTTP, h.cfg.NATSListen = "127.0.0.1:0", "127.0.0.1:0"
	h.start()
}

// response is an HTTP answer.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request; body is sent as is when it is a string or []byte, else as JSON.
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: data, header: resp.Header}
}

// must sends a request and fails the test unless it answers want.
func (h *harness) must(want int, method, path, token string, body any) response {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// expect fails t unless r has status want; for subtests, whose t is not the harness's.
func expect(t *testing.T, r response, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// createWebhook creates a webhook through the API and returns its locator.
func (h *harness) createWebhook(tenant string, body map[string]any) string {
	h.t.Helper()
	r := h.must(http.StatusOK, http.MethodPost, "/event/"+tenant+"/webhooks", adminToken, body)
	loc, _ := r.object(h.t)["locator"].(string)
	if loc == "" {
		h.t.Fatalf("no locator in %s", r.body)
	}
	return loc
}

// mintToken creates a token through the admin API and returns its secret and locator.
func (h *harness) mintToken(tenants []string, perms ...string) (secret, locator string) {
	h.t.Helper()
	r := h.must(http.StatusCreated, http.MethodPost, "/admin/tokens", adminToken, map[string]any{
		"name": "test", "tenants": tenants, "permissions": perms,
	})
	m := r.object(h.t)
	return m["token"].(string), m["locator"].(string)
}

func webhookBody(name, url string, extra map[string]any) map[string]any {
	b := map[string]any{"name": name, "endpoint": map[string]any{"url": url}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wpath(tenant, rest string) string { return fmt.Sprintf("/event/%s/webhooks%s", tenant, rest) }
