package test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// populate makes a little of everything: webhooks in two tenants, patched, suspended-free, one deleted, and
// a token.
func populate(h *harness) []string {
	var locs []string
	for i := range 5 {
		locs = append(locs, h.createWebhook(tenantA, webhookBody(fmt.Sprintf("w%d", i), fmt.Sprintf("https://example.com/%d", i), map[string]any{
			"eventTypes":      []string{"policy.issue"},
			"failureHandling": map[string]any{"retryStrategy": map[string]any{"attempts": 2, "interval": 1, "type": "linear"}, "alertEndpoint": map[string]any{"url": "https://alerts.example.com"}},
		})))
	}
	locs = append(locs, h.createWebhook(tenantB, webhookBody("b", "https://example.com/b", nil)))
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+locs[1]), adminToken, map[string]any{
		"addEventTypes": []string{"policy.cancel"}, "endpoint": map[string]any{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	})
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+locs[3]), adminToken, map[string]any{
		"ordering": "fifo", "endpoint": map[string]any{"rateLimit": 50},
	})
	h.must(http.StatusNoContent, http.MethodDelete, wpath(tenantA, "/"+locs[2]), adminToken, nil)
	h.mintToken([]string{tenantA}, "webhooks.read")
	return locs
}

// snapshot captures every API answer that must survive a restart or rebuild byte for byte.
func snapshot(h *harness, locs []string) map[string]string {
	out := map[string]string{}
	get := func(path string) {
		r := h.do(http.MethodGet, path, adminToken, nil)
		out[path] = fmt.Sprintf("%d %s", r.status, r.body)
	}
	get(wpath(tenantA, "/list?extended=true"))
	get(wpath(tenantB, "/list?extended=true"))
	get(wpath(tenantA, "/list"))
	get("/admin/tokens")
	for i, loc := range locs {
		tenant := tenantA
		if i == len(locs)-1 {
			tenant = tenantB
		}
		get(wpath(tenant, "/"+loc))
		get(wpath(tenant, "/"+loc+"/history"))
	}
	return out
}

func sameSnapshots(t *testing.T, before, after map[string]string) {
	t.Helper()
	for path, want := range before {
		if got := after[path]; got != want {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", path, want, got)
		}
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	h := startEngine(t)
	locs := populate(h)
	before := snapshot(h, locs)
	h.restart()
	sameSnapshots(t, before, snapshot(h, locs))
	// And writes go on from where they were: optimistic concurrency resumes at the right version.
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+locs[0]), adminToken, map[string]any{"name": "after restart"})
}

func TestRebuildGivesIdenticalAPIOutput(t *testing.T) {
	h := startEngine(t)
	locs := populate(h)
	before := snapshot(h, locs)
	h.stop()

	var last uint64
	stats, err := engine.Rebuild(context.Background(), h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.RebuildOptions{Progress: func(applied, _ uint64) { last = applied }})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages == 0 || last != stats.Messages {
		t.Fatalf("rebuild stats %+v, last progress %d", stats, last)
	}
	h.start()
	sameSnapshots(t, before, snapshot(h, locs))
}

func TestRebuildRefusedWhileServing(t *testing.T) {
	h := startEngine(t)
	cfg := *h.cfg
	_, err := engine.Rebuild(context.Background(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.RebuildOptions{})
	if err == nil {
		t.Fatal("rebuild ran while the server holds the views file")
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), adminToken, nil)
}

func TestCorruptViewsFileIsRebuilt(t *testing.T) {
	h := startEngine(t)
	locs := populate(h)
	before := snapshot(h, locs)
	h.stop()
	path := filepath.Join(h.cfg.Data, engine.ViewsFile)
	if err := os.WriteFile(path, []byte("this is not a bbolt file, not even close"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	sameSnapshots(t, before, snapshot(h, locs))
}

func TestMissingViewsFileIsRebuilt(t *testing.T) {
	h := startEngine(t)
	locs := populate(h)
	before := snapshot(h, locs)
	h.stop()
	if err := os.Remove(filepath.Join(h.cfg.Data, engine.ViewsFile)); err != nil {
		t.Fatal(err)
	}
	h.start()
	sameSnapshots(t, before, snapshot(h, locs))
}

func TestViewOfAWipedStreamIsRebuiltAtStart(t *testing.T) {
	h := startEngine(t)
	populate(h)
	h.stop()

	// Replace the webhooks stream behind the engine's back: delete it and put one other webhook in a new one.
	ctx := context.Background()
	b, err := engine.OpenBroker(ctx, h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.JS.DeleteStream(ctx, b.Subjects.StreamName(broker.KindWebhooks)); err != nil {
		t.Fatal(err)
	}
	b.Close()

	h.start()
	var list struct {
		Items []any `json:"items"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), adminToken, nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("view kept %d webhooks of a stream that is gone", len(list.Items))
	}
	loc := h.createWebhook(tenantA, webhookBody("fresh", "https://example.com/fresh", nil))
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil)
	// Tokens live in their own stream and are untouched.
	h.must(http.StatusOK, http.MethodGet, "/admin/tokens", adminToken, nil)
}

func TestServeAgainstExternalNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external nats-server not ready")
	}

	h := startEngine(t, func(c *config.Config) { c.NATS = ns.ClientURL() })
	if _, err := os.Stat(filepath.Join(h.cfg.Data, "nats")); err == nil {
		t.Fatal("an embedded store was created although --nats was given")
	}
	loc := h.createWebhook(tenantA, webhookBody("ext", "https://example.com/ext", nil))

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), "HOOKSTREAM_WEBHOOKS")
	if err != nil {
		t.Fatalf("webhooks stream not on the external server: %v", err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), "hookstream.webhooks."+tenantA+"."+loc)
	if err != nil || msg.Header.Get(broker.HeaderEventType) != "webhook.created" {
		t.Fatalf("creation event not on the external server: %v %v", err, msg)
	}
	h.restart()
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil)
}

// TestRoutedAgainSendsNothingTwice deletes the router's durable consumer once every event was delivered and
// acked, so the restarted engine creates it again and routes every event from the start, as if each had been
// handed to a router that died before acking it. The router looks up the tries' recorded outcomes: nothing is
// sent or recorded twice.
func TestRoutedAgainSendsNothingTwice(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("again", rc.url("/hook"), nil))
	const n = 20
	for i := range n {
		h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": i})
	}
	rc.waitFor(t, n, 30*time.Second)
	// routed reports whether the router consumer has routed and acked every event.
	routed := func(js jetstream.JetStream) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "HOOKSTREAM_EVENTS", "router")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.Delivered.Stream >= n && ci.NumPending == 0 && ci.NumAckPending == 0
	}
	_, js := h.natsClient()
	eventually(t, 30*time.Second, "every event routed and acked", func() bool { return routed(js) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, "HOOKSTREAM_EVENTS", "router"); err != nil {
		t.Fatalf("delete the router consumer: %v", err)
	}
	h.restart()
	_, js = h.natsClient() // the restarted engine listens on another port
	eventually(t, 30*time.Second, "every event routed again and acked", func() bool { return routed(js) })
	if got := len(rc.requests()); got != n {
		t.Errorf("the endpoint got %d requests, want %d: tries routed again were sent again", got, n)
	}
	outcomes := 0
	for _, r := range h.deliveryRecords() {
		if a, ok := r["attempt"].(map[string]any); ok && a["status"] != string(hookstream.AttemptPending) {
			outcomes++
		}
	}
	if outcomes != n {
		t.Errorf("%d outcome records, want %d: tries routed again were recorded again", outcomes, n)
	}
}
