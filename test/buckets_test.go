package test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRetriesDueFarAheadWaitInBuckets shortens the buckets (tasks due over 1.5 s ahead wait in 500 ms buckets,
// promoted 300 ms ahead) and checks that a retry due 3 s and 6 s after a failure waits in its bucket, is
// promoted to a schedule of its own, and is tried on time, never early; and that nothing is left waiting.
func TestRetriesDueFarAheadWaitInBuckets(t *testing.T) {
	h := startEngine(t, shortBuckets)
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(2, http.StatusServiceUnavailable))
	h.createWebhook(tenantA, retryBody(rc.url("/far"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 3, "attempts": 2},
	}))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	waiting := waitingInBuckets(t, h)
	rc.waitFor(t, 1, 10*time.Second)
	eventually(t, 2*time.Second, "the first retry waiting in its bucket", func() bool { return waiting() == 1 })
	got := rc.waitFor(t, 3, 20*time.Second)
	for k, want := range []time.Duration{3 * time.Second, 6 * time.Second} {
		if gap := got[k+1].at.Sub(got[k].at); gap < want || gap > want+time.Second {
			t.Errorf("gap before retry %d = %s, want %s..%s", k+1, gap, want, want+time.Second)
		}
	}
	eventually(t, 5*time.Second, "no task left in a bucket", func() bool { return waiting() == 0 })
}

// shortBuckets makes tasks due over 1.5 s ahead wait in 500 ms buckets, promoted 300 ms before they begin.
func shortBuckets(c *config.Config) {
	c.RetryBuckets = config.RetryBuckets{After: 1500 * time.Millisecond, Span: 500 * time.Millisecond, Lead: 300 * time.Millisecond}
}

// waitingInBuckets returns a count of the tasks waiting in buckets, read through one connection however
// often it is polled.
func waitingInBuckets(t *testing.T, h *harness) func() uint64 {
	t.Helper()
	_, js := h.natsClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "HOOKSTREAM_RETRIES")
	if err != nil {
		t.Fatal(err)
	}
	return func() uint64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("hookstream.retries.wait.>"))
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
}

// TestRecoverCancelsARetryWaitingInItsBucket: a recover job sends a failed event now and cancels its pending
// retry, which waits in a bucket: the retry leaves its bucket before the bucket is promoted, and never runs.
func TestRecoverCancelsARetryWaitingInItsBucket(t *testing.T) {
	h := startEngine(t, shortBuckets)
	tok := h.v1Token()
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	webhook := h.createWebhook(tenantA, retryBody(rc.url("/c"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 8, "attempts": 1},
	}))
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{})
	waiting := waitingInBuckets(t, h)
	failed := rc.waitFor(t, 1, 10*time.Second)[0].at
	eventually(t, 2*time.Second, "the retry waiting in its bucket", func() bool { return waiting() == 1 })
	expect(t, h.v1(http.MethodPost, "/v1/event_subscriptions/"+webhook+"/recover?begin="+ev.Timestamp.Add(-time.Second).Format(time.RFC3339),
		tok, nil), http.StatusAccepted)
	rc.waitFor(t, 2, 10*time.Second)
	// Cancelled, not promoted: the bucket (due 8 s after the failure) is promoted 7.2 s after it at the
	// earliest.
	promotion := failed.Add(7200 * time.Millisecond)
	eventually(t, time.Until(promotion), "the retry gone from its bucket before its promotion", func() bool {
		return waiting() == 0
	})
	// Asserting that something does not happen takes a wait: past the retry's due time, nothing more arrives.
	time.Sleep(time.Until(failed.Add(9 * time.Second)))
	if n := len(rc.waitFor(t, 2, time.Second)); n != 2 {
		t.Fatalf("%d requests, want the failed one and the recover's: the cancelled retry ran", n)
	}
}
