package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
	path   string
	status int
}

// receiver is a loopback webhook endpoint that records what it gets and answers as told.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// answer returns the status for the n-th request (0-based); nil answers 200.
	answer func(n int) int
	// answerFor, when set, decides from the request's headers instead.
	answerFor func(h http.Header) int
	// changed is closed and replaced on every request, so tests can wait without sleeping.
	changed chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{changed: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		answer, answerFor := rc.answer, rc.answerFor
		rc.mu.Unlock()
		status := http.StatusOK
		switch {
		case answerFor != nil:
			status = answerFor(r.Header)
		case answer != nil:
			status = answer(n)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, at: time.Now(), path: r.URL.Path, status: status})
		close(rc.changed)
		rc.changed = make(chan struct{})
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

func (rc *receiver) setAnswer(f func(n int) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

// failingFirst is an answer that gives status to the first n requests and 200 to the rest.
func failingFirst(n, status int) func(int) int {
	return func(i int) int {
		if i < n {
			return status
		}
		return http.StatusOK
	}
}

func (rc *receiver) setAnswerFor(f func(h http.Header) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answerFor = f
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// webhookIDs returns the webhook-id of each request, in order.
func webhookIDs(rs []received) []string {
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.header.Get("Webhook-Id"))
	}
	return ids
}

// waitFor waits until the receiver has at least n requests.
func (rc *receiver) waitFor(t *testing.T, n int, timeout time.Duration) []received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		rc.mu.Lock()
		got, changed := len(rc.got), rc.changed
		rc.mu.Unlock()
		if got >= n {
			return rc.requests()
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", got, n, timeout)
		}
	}
}

// eventJSON is an EventResponse as a receiver sees it.
type eventJSON struct {
	Locator   string          `json:"locator"`
	Type      string          `json:"type"`
	Tenant    string          `json:"tenantLocator"`
	Timestamp time.Time       `json:"timestamp"`
	RequestID string          `json:"requestId"`
	Data      json.RawMessage `json:"data"`
}

func decodeEvent(t *testing.T, body []byte) eventJSON {
	t.Helper()
	var e eventJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("delivery body %s: %v", body, err)
	}
	return e
}

// publishHTTP ingests an event over HTTP and returns its EventResponse.
func (h *harness) publishHTTP(tenant, eventType string, data any) eventJSON {
	h.t.Helper()
	r := h.must(http.StatusAccepted, http.MethodPost, "/event/"+tenant+"/events", adminToken, map[string]any{"type": eventType, "data": data})
	return decodeEvent(h.t, r.body)
}

// natsClient connects to the engine's NATS, as a producer would.
func (h *harness) natsClient() (*nats.Conn, jetstream.JetStream) {
	h.t.Helper()
	nc, err := nats.Connect(h.engine.NATSURL())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, js
}

// deliveryRecords reads every record of the attempts stream, as an auditor would.
func (h *harness) deliveryRecords() []map[string]any {
	h.t.Helper()
	_, js := h.natsClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "HOOKSTREAM_ATTEMPTS")
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []map[string]any
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, records(rec)...)
	}
	return out
}

// records returns the records a stored entry stands for: each attempt of an attempts batch as an attempt
// record of its own, or the entry itself.
func records(rec map[string]any) []map[string]any {
	if rec["type"] != string(hookstream.RecordAttempts) {
		return []map[string]any{rec}
	}
	var out []map[string]any
	for _, a := range rec["attempts"].([]any) {
		out = append(out, map[string]any{"type": string(hookstream.RecordAttempt), "tenant": rec["tenant"], "webhook": rec["webhook"],
			"event": a.(map[string]any)["event"], "attempt": a})
	}
	return out
}
