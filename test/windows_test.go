package test

import (
	"context"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
)

// TestLongIdempotencyWindowStaysOnTheEventsStream starts an engine whose users dedupe events for a day: the
// events stream keeps ids for a day, while the streams the engine writes per delivery keep theirs for the
// task window only (the server holds every id of a window in memory).
func TestLongIdempotencyWindowStaysOnTheEventsStream(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.DuplicateWindow = 24 * time.Hour })
	_, js := h.natsClient()
	task := delivery.TaskWindow(h.cfg.DeliveryTimeout)
	for name, want := range map[string]time.Duration{
		"HOOKSTREAM_EVENTS": 24 * time.Hour, "HOOKSTREAM_WEBHOOKS": 24 * time.Hour,
		"HOOKSTREAM_ATTEMPTS": task, "HOOKSTREAM_RETRIES": task, "HOOKSTREAM_DELIVERIES": task,
	} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Duplicates; got != want {
			t.Errorf("%s: duplicate window %s, want %s", name, got, want)
		}
	}
}
