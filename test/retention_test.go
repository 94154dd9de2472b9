package test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
)

func TestRetentionDropsExpiredEventsAndKeepsDivertedRecords(t *testing.T) {
	h := startEngine(t, func(c *config.Config) {
		c.DuplicateWindow = 500 * time.Millisecond
		c.RetainEvents = 2 * time.Second
	})
	rc := newReceiver(t)
	rc.setAnswer(func(int) int { return http.StatusInternalServerError })
	loc := h.createWebhook(tenantA, retryBody(rc.url("/x"), map[string]any{"divert": true}))
	old := h.publishHTTP(tenantA, "policy.issue", map[string]any{"old": true})
	eventually(t, 5*time.Second, "the event diverted", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+old.Locator), adminToken, nil).status == http.StatusOK
	})
	eventually(t, 10*time.Second, "the event to age out of the events view", func() bool {
		return h.do(http.MethodGet, "/event/"+tenantA+"/events/"+old.Locator, adminToken, nil).status == http.StatusNotFound
	})
	fresh := h.publishHTTP(tenantA, "policy.issue", map[string]any{"fresh": true})
	list := string(h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/list", adminToken, nil).body)
	if strings.Contains(list, old.Locator) || !strings.Contains(list, fresh.Locator) {
		t.Fatalf("events list after expiry: %s", list)
	}
	d := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+old.Locator), adminToken, nil).object(t)
	if d["eventExpired"] != true || d["requestLocator"] == "" {
		t.Fatalf("diverted record of an expired event: %v", d)
	}
	r := h.must(http.StatusConflict, http.MethodPost, wpath(tenantA, "/"+loc+"/diverted/"+old.Locator+"/resend"), adminToken, nil)
	if !strings.Contains(r.object(t)["message"].(string), "retention") {
		t.Fatalf("resend of an expired event: %s", r.body)
	}
	// The fresh event fails too: wait for its diverted record, so the snapshot below is settled.
	eventually(t, 5*time.Second, "the fresh event diverted", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+loc+"/diverted/"+fresh.Locator), adminToken, nil).status == http.StatusOK
	})
	// Webhooks are never trimmed by age.
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+loc), adminToken, nil)

	// The live views match a rebuild from what the streams still hold.
	// (The events list is left out: more events may age out while the engine is down.)
	paths := []string{wpath(tenantA, "/"+loc+"/diverted"), wpath(tenantA, "/"+loc+"/history")}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(h.must(http.StatusOK, http.MethodGet, p, adminToken, nil).body)
	}
	h.stop()
	if _, err := engine.Rebuild(context.Background(), h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	h.start()
	for _, p := range paths {
		if got := string(h.must(http.StatusOK, http.MethodGet, p, adminToken, nil).body); got != before[p] {
			t.Errorf("%s after rebuild:\n%s\nbefore:\n%s", p, got, before[p])
		}
	}
}
