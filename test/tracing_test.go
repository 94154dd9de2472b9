package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/audit"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/hookstream/hookstream/tracing"
	"github.com/nats-io/nats.go"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

const (
	givenTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	givenTracestate  = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
	givenTraceID     = "0af7651916cd43dd8448eb211c80319c"
)

// publishTraced ingests an event over HTTP with the given trace headers (none when empty).
func (h *harness) publishTraced(tenant, traceparent, tracestate string) eventJSON {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "policy.issue", "data": map[string]any{"n": 1}})
	req, err := http.NewRequest(http.MethodPost, h.base+"/event/"+tenant+"/events", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	if tracestate != "" {
		req.Header.Set("Tracestate", tracestate)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		h.t.Fatalf("ingest: %d %s", resp.StatusCode, data)
	}
	return decodeEvent(h.t, data)
}

// retryingWebhook creates a webhook whose receiver fails the first try with 503, retried a second later.
func retryingWebhook(t *testing.T, h *harness) *receiver {
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	h.createWebhook(tenantA, retryBody(rc.url("/traced"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3},
	}))
	return rc
}

// tryTraces returns the trace context each request carried, failing t on one without a valid traceparent.
func tryTraces(t *testing.T, got []received) []tracing.Context {
	t.Helper()
	out := make([]tracing.Context, 0, len(got))
	for i, r := range got {
		c, ok := tracing.Parse(r.header.Get("Traceparent"), r.header.Get("Tracestate"))
		if !ok {
			t.Fatalf("try %d carries no valid traceparent: %q", i, r.header.Get("Traceparent"))
		}
		out = append(out, c)
	}
	return out
}

// checkOneTrace checks that every try is in one trace, with span ids of their own and the same flags and
// tracestate; it returns the trace.
func checkOneTrace(t *testing.T, got []received) tracing.Context {
	t.Helper()
	traces := tryTraces(t, got)
	seen := map[[8]byte]bool{}
	for i, c := range traces {
		if c.TraceID != traces[0].TraceID || c.Flags != traces[0].Flags || c.State != traces[0].State {
			t.Fatalf("try %d: %s %q, first try: %s %q", i, c.Traceparent(), c.State, traces[0].Traceparent(), traces[0].State)
		}
		if seen[c.SpanID] {
			t.Fatalf("try %d reuses span id %x", i, c.SpanID)
		}
		seen[c.SpanID] = true
	}
	return traces[0]
}

func checkGiven(t *testing.T, got []received) {
	t.Helper()
	c := checkOneTrace(t, got)
	if hex.EncodeToString(c.TraceID[:]) != givenTraceID || c.Flags != 0 || c.State != givenTracestate {
		t.Fatalf("tries carry %s %q, want trace %s, flags 00, tracestate %q", c.Traceparent(), c.State, givenTraceID, givenTracestate)
	}
	for i, r := range got {
		if r.header.Get("Traceparent") == givenTraceparent {
			t.Fatalf("try %d reuses the producer's span id", i)
		}
	}
}

func TestTraceparentFromHTTPAcrossARetry(t *testing.T) {
	h := startEngine(t)
	rc := retryingWebhook(t, h)
	h.publishTraced(tenantA, givenTraceparent, givenTracestate)
	checkGiven(t, rc.waitFor(t, 2, 15*time.Second))
}

func TestTraceparentFromNATSAcrossARetry(t *testing.T) {
	h := startEngine(t)
	rc := retryingWebhook(t, h)
	_, js := h.natsClient()
	msg := nats.NewMsg("hookstream.events." + tenantA + ".policy.issue")
	msg.Data = []byte(`{"n":1}`)
	msg.Header.Set("traceparent", givenTraceparent)
	msg.Header.Set("tracestate", givenTracestate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	checkGiven(t, rc.waitFor(t, 2, 15*time.Second))
}

func TestEventsWithoutAValidTraceGetOne(t *testing.T) {
	h := startEngine(t)
	_, js := h.natsClient()
	for _, c := range []struct {
		name, traceparent string
		nats              bool
	}{
		{"http without", "", false},
		{"http invalid", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false},
		{"nats without", "", true},
		{"nats invalid", "not a traceparent", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := retryingWebhook(t, h)
			if c.nats {
				msg := nats.NewMsg("hookstream.events." + tenantA + ".policy.issue")
				msg.Data = []byte(`{"n":1}`)
				if c.traceparent != "" {
					msg.Header.Set("traceparent", c.traceparent)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := js.PublishMsg(ctx, msg); err != nil {
					t.Fatal(err)
				}
			} else {
				h.publishTraced(tenantA, c.traceparent, "")
			}
			got := rc.waitFor(t, 2, 15*time.Second)
			tc := checkOneTrace(t, got)
			if hex.EncodeToString(tc.TraceID[:]) == givenTraceID || tc.State != "" {
				t.Fatalf("an invalid traceparent was kept: %s %q", tc.Traceparent(), tc.State)
			}
		})
	}
}

// The trace context kept with the event shows in replay, survives a rebuild of the views, and a resend after
// it carries the event's trace on.
func TestTraceSurvivesRebuildAndShowsInReplay(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	rc.setAnswer(func(int) int { return http.StatusInternalServerError })
	wh := h.createWebhook(tenantA, retryBody(rc.url("/once"), map[string]any{
		"divert": true, "retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 1},
	}))
	ev := h.publishTraced(tenantA, givenTraceparent, givenTracestate)
	eventually(t, 20*time.Second, "the event diverted", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+wh+"/diverted/"+ev.Locator), adminToken, nil).status == http.StatusOK
	})
	h.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	o, err := audit.OpenOffline(ctx, h.cfg.Data, h.cfg.SubjectPrefix, log)
	if err != nil {
		t.Fatal(err)
	}
	lines := &collectLines{}
	err = o.Replayer.Run(ctx, audit.Options{Streams: []audit.Stream{audit.StreamEvents}, Filter: audit.Filter{Event: ev.Locator},
		Now: time.Now}, lines)
	o.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines.got) != 1 {
		t.Fatalf("replay: %d lines for the event", len(lines.got))
	}
	if l := lines.got[0]; l.Traceparent[:36] != givenTraceparent[:36] || l.Tracestate != givenTracestate {
		t.Fatalf("replay shows %q %q", l.Traceparent, l.Tracestate)
	}

	if _, err := engine.Rebuild(ctx, h.cfg, log, engine.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	h.restart()
	tried := len(rc.requests())
	rc.setAnswer(nil)
	h.must(http.StatusOK, http.MethodPost, wpath(tenantA, "/"+wh+"/diverted/"+ev.Locator+"/resend"), adminToken, nil)
	checkGiven(t, rc.waitFor(t, tried+1, 15*time.Second))
}

type collectLines struct{ got []*audit.Line }

func (c *collectLines) Write(l *audit.Line) error { c.got = append(c.got, l); return nil }
func (c *collectLines) Flush() error              { return nil }

// collector stands in for an OTLP/HTTP collector on loopback: it keeps the spans it is sent.
type collector struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	name            string
	traceID, spanID string
	parentID        string
	attrs           map[string]string
}

func newCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, _ := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(data, &req) != nil {
			http.Error(w, "not an OTLP traces request", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					attrs := map[string]string{}
					for _, kv := range s.Attributes {
						if v := kv.Value.GetStringValue(); v != "" {
							attrs[kv.Key] = v
						} else {
							b, _ := json.Marshal(kv.Value.GetIntValue())
							attrs[kv.Key] = string(b)
						}
					}
					c.spans = append(c.spans, span{name: s.Name, traceID: hex.EncodeToString(s.TraceId),
						spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId), attrs: attrs})
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *collector) named(name, traceID string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.name == name && s.traceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

func TestSpansExportedOverOTLP(t *testing.T) {
	col, url := newCollector(t)
	h := startEngine(t, func(c *config.Config) { c.OTLPEndpoint = url })
	rc := newReceiver(t)
	rc.setAnswer(failingFirst(1, http.StatusServiceUnavailable))
	wh := h.createWebhook(tenantA, retryBody(rc.url("/traced"), map[string]any{
		"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3},
	}))
	sampled := givenTraceparent[:len(givenTraceparent)-2] + "01"
	ev := h.publishTraced(tenantA, sampled, givenTracestate)
	got := rc.waitFor(t, 2, 15*time.Second)
	tc := checkOneTrace(t, got)
	if hex.EncodeToString(tc.TraceID[:]) != givenTraceID || !tc.Sampled() {
		t.Fatalf("tries carry %s", tc.Traceparent())
	}
	// Spans leave in batches, and the last at stop.
	h.stop()
	eventually(t, 15*time.Second, "spans of ingest, routing and both attempts", func() bool {
		return len(col.named("hookstream.ingest", givenTraceID)) == 1 && len(col.named("hookstream.route", givenTraceID)) >= 1 &&
			len(col.named("hookstream.attempt", givenTraceID)) == 2
	})
	ingest := col.named("hookstream.ingest", givenTraceID)[0]
	if ingest.parentID != "b7ad6b7169203331" || ingest.attrs["hookstream.event"] != ev.Locator {
		t.Fatalf("ingest span: %+v", ingest)
	}
	sent := map[string]bool{}
	for _, c := range tryTraces(t, got) {
		sent[hex.EncodeToString(c.SpanID[:])] = true
	}
	for _, a := range col.named("hookstream.attempt", givenTraceID) {
		if !sent[a.spanID] {
			t.Errorf("attempt span %s is not the parent any try named", a.spanID)
		}
		if a.parentID != ingest.spanID || a.attrs["hookstream.webhook"] != wh || a.attrs["hookstream.event"] != ev.Locator ||
			a.attrs["hookstream.attempt"] == "" || a.attrs["http.response.status_code"] == "" || a.attrs["hookstream.try"] == "" {
			t.Errorf("attempt span: %+v", a)
		}
	}
	for _, s := range col.named("hookstream.route", givenTraceID) {
		if s.parentID != ingest.spanID || s.attrs["hookstream.tenant"] != tenantA {
			t.Errorf("route span: %+v", s)
		}
	}
}
