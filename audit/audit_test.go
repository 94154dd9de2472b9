package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/audit"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	tenantA    = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"
	tenantB    = "0b8e1b9c-3f5a-4d2e-8c7b-1a2b3c4d5e6f"
	adminToken = "adm_audit_test_token_0123"
)

// fixture is an engine with a history: webhooks created, changed and rotated by the admin and by a token, a
// token minted and revoked, events delivered, diverted and deleted, and an invalid message.
type fixture struct {
	t      *testing.T
	cfg    *config.Config
	engine *engine.Engine
	base   string
	js     jetstream.JetStream
	// streams reads the engine's streams for replays.
	streams *broker.Reader

	secrets            []string // every webhook secret the history holds
	s1, s2, s3, s4, s5 string   // A's secrets: endpoint, alert endpoint, both patched, rotated
	tokenSecret, hash  string
	token              string // the token's locator
	whA, whB           string
	e1, e2, e3, e4     string // A policy.issue ×2, A policy.cancel, B claim.opened
	invalidSeq         uint64
	stopOnce           sync.Once
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t}
	f.cfg = config.Default()
	f.cfg.HTTP, f.cfg.NATSListen, f.cfg.Data = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	f.cfg.AllowPrivateDestinations, f.cfg.DeliveryTimeout, f.cfg.LogLevel = true, 2*time.Second, "warn"
	f.cfg.MaxInFlight, f.cfg.MaxInFlightPerEndpoint, f.cfg.AdminToken = 8, 2, adminToken
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(ok.Close)
	t.Cleanup(bad.Close)

	e, err := engine.Start(context.Background(), f.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.engine, f.base = e, "http://"+e.HTTPAddr()
	t.Cleanup(f.stop)
	nc, err := nats.Connect(e.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if f.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if f.streams, err = broker.NewReader(nc, subjects()); err != nil {
		t.Fatal(err)
	}

	f.s1, f.s2, f.s3, f.s4 = hookstream.NewSecret(), hookstream.NewSecret(), hookstream.NewSecret(), hookstream.NewSecret()
	f.whA = f.object(http.StatusOK, "POST", "/event/"+tenantA+"/webhooks", adminToken, map[string]any{
		"name": "A", "endpoint": map[string]any{"url": ok.URL, "secret": f.s1}, "eventTypes": []string{"policy.issue"},
		"failureHandling": map[string]any{"triggers": []string{"5xx"},
			"alertEndpoint": map[string]any{"url": ok.URL + "/alerts", "secret": f.s2}},
	})["locator"].(string)
	f.whB = f.object(http.StatusOK, "POST", "/event/"+tenantB+"/webhooks", adminToken, map[string]any{
		"name": "B", "endpoint": map[string]any{"url": bad.URL}, "eventTypes": []string{"claim.opened"},
		"failureHandling": map[string]any{"triggers": []string{"5xx"}, "divert": true},
	})["locator"].(string)
	f.do(http.StatusOK, "PATCH", "/event/"+tenantA+"/webhooks/"+f.whA, adminToken, map[string]any{
		"name": "A2", "endpoint": map[string]any{"secret": f.s3},
		"failureHandling": map[string]any{"alertEndpoint": map[string]any{"secret": f.s4}},
	})
	f.do(http.StatusNoContent, "POST", "/v1/event_subscriptions/"+f.whA+"/secret/rotate", "v1:"+tenantA, nil)
	f.s5 = f.object(http.StatusOK, "GET", "/v1/event_subscriptions/"+f.whA+"/secret", "v1:"+tenantA, nil)["secret"].(string)
	f.secrets = []string{f.s1, f.s2, f.s3, f.s4, f.s5}
	// The generated secret of webhook B.
	for _, item := range f.object(http.StatusOK, "GET", "/event/"+tenantB+"/webhooks/list?extended=true", adminToken, nil)["items"].([]any) {
		f.secrets = append(f.secrets, item.(map[string]any)["endpoint"].(map[string]any)["secret"].(string))
	}
	if slices.Contains(f.secrets, "") || f.s5 == f.s3 {
		t.Fatalf("secrets %q", f.secrets)
	}

	tok := f.object(http.StatusCreated, "POST", "/admin/tokens", adminToken, map[string]any{
		"name": "auditor", "tenants": []string{tenantA}, "permissions": []string{"webhooks.write", "webhooks.read"}})
	f.token, f.tokenSecret = tok["locator"].(string), tok["token"].(string)
	f.hash = hookstream.HashToken(f.tokenSecret)
	f.do(http.StatusOK, "PATCH", "/event/"+tenantA+"/webhooks/"+f.whA, f.tokenSecret, map[string]any{"name": "A3"})
	f.do(http.StatusNoContent, "DELETE", "/admin/tokens/"+f.token, adminToken, nil)

	f.e1 = f.publish(tenantA, "policy.issue")
	f.e2 = f.publish(tenantA, "policy.issue")
	f.e3 = f.publish(tenantA, "policy.cancel")
	f.e4 = f.publish(tenantB, "claim.opened")
	ack, err := f.js.Publish(context.Background(), "hookstream.events."+tenantA+".policy.issue", []byte("not json"))
	if err != nil {
		t.Fatal(err)
	}
	f.invalidSeq = ack.Sequence

	// Wait for the deliveries to be recorded, and the diverted record of e4; then delete that record.
	f.eventually("attempts of e1, e2 and e4", func() bool {
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamAttempts}})
		var done []string
		for _, l := range lines {
			if s := entry(l, "attempt", "status"); s == string(hookstream.AttemptSuccess) || s == string(hookstream.AttemptFailed) {
				done = append(done, entry(l, "event"))
			}
		}
		return slices.Contains(done, f.e1) && slices.Contains(done, f.e2) && slices.Contains(done, f.e4)
	})
	f.eventually("diverted e4", func() bool {
		return f.request("GET", "/event/"+tenantB+"/webhooks/"+f.whB+"/diverted/"+f.e4, adminToken, nil).status == http.StatusOK
	})
	f.do(http.StatusOK, "DELETE", "/event/"+tenantB+"/webhooks/"+f.whB+"/diverted/"+f.e4, adminToken, nil)
	return f
}

func (f *fixture) stop() {
	f.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f.engine.Stop(ctx); err != nil {
			f.t.Errorf("stop engine: %v", err)
		}
	})
}

// eventually waits, up to 15 s, until cond holds, re-checking every 20 ms.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type response struct {
	status int
	body   []byte
}

// request sends a request; a token "v1:<tenant>" is the admin token sent bare, with Hookstream-Tenant.
func (f *fixture) request(method, path, token string, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if tenant, ok := strings.CutPrefix(token, "v1:"); ok {
		req.Header.Set("Authorization", adminToken)
		req.Header.Set("Hookstream-Tenant", tenant)
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: data}
}

func (f *fixture) do(want int, method, path, token string, body any) []byte {
	f.t.Helper()
	r := f.request(method, path, token, body)
	if r.status != want {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r.body
}

func (f *fixture) object(want int, method, path, token string, body any) map[string]any {
	f.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(f.do(want, method, path, token, body), &m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) publish(tenant, eventType string) string {
	f.t.Helper()
	return f.object(http.StatusAccepted, "POST", "/event/"+tenant+"/events", adminToken,
		map[string]any{"type": eventType, "data": map[string]any{"n": eventType}})["locator"].(string)
}

// replay runs a replay against the running engine and returns its lines, decoded.
func (f *fixture) replay(o audit.Options) []map[string]any {
	f.t.Helper()
	_, lines := f.replayRaw(audit.New(f.streams), o)
	return lines
}

func (f *fixture) replayRaw(r *audit.Replayer, o audit.Options) (string, []map[string]any) {
	f.t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Run(ctx, o, audit.NewJSONWriter(&buf)); err != nil {
		f.t.Fatalf("replay %+v: %v", o, err)
	}
	return buf.String(), decodeLines(f.t, buf.String())
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// entry reads a string at path in a line's entry ("" when absent).
func entry(line map[string]any, path ...string) string {
	v, _ := line["entry"].(map[string]any)
	for i, p := range path {
		if v == nil {
			return ""
		}
		if i == len(path)-1 {
			s, _ := v[p].(string)
			return s
		}
		v, _ = v[p].(map[string]any)
	}
	return ""
}

// summary renders lines for comparisons: "events <type>", or "<stream> <type> <last subject token>
// <actor>" for the other streams.
func summary(lines []map[string]any) []string {
	var out []string
	for _, l := range lines {
		typ := entry(l, "type")
		if l["invalid"] != nil {
			typ = "invalid"
		}
		if l["stream"] == "events" {
			out = append(out, "events "+typ)
			continue
		}
		actor, _ := l["actor"].(string)
		subject := l["subject"].(string)
		out = append(out, strings.TrimSpace(l["stream"].(string)+" "+typ+" "+subject[strings.LastIndex(subject, ".")+1:]+" "+actor))
	}
	return out
}

// lineTime is a line's stream timestamp.
func lineTime(t *testing.T, line map[string]any) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, line["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func subjects() broker.Subjects { return broker.Subjects{Prefix: "hookstream"} }

func TestReplay(t *testing.T) {
	f := newFixture(t)
	all := f.replay(audit.Options{})
	whA, whB, tok := f.whA, f.whB, f.token

	t.Run("webhook changes in order, with actors and masked secrets", func(t *testing.T) {
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamWebhooks}})
		want := []string{"webhooks webhook.created " + whA + " admin", "webhooks webhook.created " + whB + " admin",
			"webhooks webhook.updated " + whA + " admin", "webhooks webhook.secret_rotated " + whA + " admin",
			"webhooks webhook.updated " + whA + " " + tok}
		if got := summary(lines); !slices.Equal(got, want) {
			t.Fatalf("webhook lines\n got %q\nwant %q", got, want)
		}
		for i := 1; i < len(lines); i++ {
			if lines[i]["sequence"].(float64) <= lines[i-1]["sequence"].(float64) || lineTime(t, lines[i]).Before(lineTime(t, lines[i-1])) {
				t.Fatalf("out of order: %v then %v", lines[i-1], lines[i])
			}
		}
		checks := map[string]string{
			entry(lines[0], "create", "endpoint", "secret"):                         f.s1,
			entry(lines[0], "create", "failureHandling", "alertEndpoint", "secret"): f.s2,
			entry(lines[2], "update", "endpoint", "secret"):                         f.s3,
			entry(lines[2], "update", "failureHandling", "alertEndpoint", "secret"): f.s4,
			entry(lines[3], "secret"):                                               f.s5,
		}
		for got, secret := range checks {
			if got != audit.MaskSecret(secret) || !strings.HasPrefix(got, "whsec_…") {
				t.Errorf("masked secret %q, want %q", got, audit.MaskSecret(secret))
			}
		}
		if entry(lines[0], "create", "name") != "A" || entry(lines[4], "update", "name") != "A3" {
			t.Errorf("entries %v", lines)
		}
	})

	t.Run("token changes with hash masked", func(t *testing.T) {
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamTokens}})
		want := []string{"tokens token.created " + tok + " admin", "tokens token.revoked " + tok + " admin"}
		if got := summary(lines); !slices.Equal(got, want) {
			t.Fatalf("token lines\n got %q\nwant %q", got, want)
		}
		if got := entry(lines[0], "create", "hash"); got != "sha256:…"+f.hash[len(f.hash)-4:] {
			t.Errorf("hash shown as %q", got)
		}
	})

	t.Run("no secret anywhere in the output", func(t *testing.T) {
		var buf bytes.Buffer
		if err := audit.New(f.streams).Run(context.Background(), audit.Options{}, audit.NewJSONWriter(&buf)); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, s := range append(slices.Clone(f.secrets), f.tokenSecret, f.hash, adminToken) {
			body := strings.TrimPrefix(s, "whsec_")
			if strings.Contains(out, s) || strings.Contains(out, body[:len(body)-4]) {
				t.Errorf("output holds secret %q", s)
			}
		}
		if !strings.Contains(out, audit.MaskSecret(f.s1)) {
			t.Errorf("output lacks the masked secret %q", audit.MaskSecret(f.s1))
		}
	})

	t.Run("events, the invalid one included", func(t *testing.T) {
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamEvents}})
		if len(lines) != 5 {
			t.Fatalf("%d event lines: %v", len(lines), summary(lines))
		}
		for i, loc := range []string{f.e1, f.e2, f.e3, f.e4} {
			if entry(lines[i], "locator") != loc || lines[i]["invalid"] != nil || lines[i]["actor"] != nil {
				t.Errorf("line %d: %v, want event %s", i, lines[i], loc)
			}
		}
		if entry(lines[0], "tenantLocator") != tenantA || entry(lines[0], "type") != "policy.issue" {
			t.Errorf("EventResponse %v", lines[0]["entry"])
		}
		inv := lines[4]
		if reason, _ := inv["invalid"].(string); !strings.Contains(reason, "data") || entry(inv, "raw") != "not json" ||
			uint64(inv["sequence"].(float64)) != f.invalidSeq || inv["subject"] != "hookstream.events."+tenantA+".policy.issue" {
			t.Errorf("invalid message line %v", inv)
		}
	})

	t.Run("attempts and diverted records", func(t *testing.T) {
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamDiverted}})
		want := []string{"diverted diverted " + whB, "diverted diverted.deleted " + whB + " admin"}
		if got := summary(lines); !slices.Equal(got, want) {
			t.Fatalf("diverted lines\n got %q\nwant %q", got, want)
		}
		events := map[string]string{}
		for _, l := range f.replay(audit.Options{Streams: []audit.Stream{audit.StreamAttempts}}) {
			if l["actor"] != nil {
				t.Errorf("attempt with an actor: %v", l)
			}
			events[entry(l, "event")] = entry(l, "webhook")
		}
		if len(events) != 3 || events[f.e1] != whA || events[f.e2] != whA || events[f.e4] != whB {
			t.Errorf("attempts of events %v", events)
		}
	})

	t.Run("all streams merged by time", func(t *testing.T) {
		n := 0
		for _, s := range audit.AllStreams() {
			n += len(f.replay(audit.Options{Streams: []audit.Stream{s}}))
		}
		if len(all) != n {
			t.Fatalf("all: %d lines, streams one by one: %d", len(all), n)
		}
		for i := 1; i < len(all); i++ {
			if lineTime(t, all[i]).Before(lineTime(t, all[i-1])) {
				t.Fatalf("not in time order: %v then %v", all[i-1], all[i])
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		times := map[string]time.Time{}
		for _, l := range all {
			times[summary([]map[string]any{l})[0]] = lineTime(t, l)
		}
		rotated := times["webhooks webhook.secret_rotated "+whA+" admin"]
		createdB := times["webhooks webhook.created "+whB+" admin"]
		for _, tc := range []struct {
			name   string
			o      audit.Options
			want   []string
			absent []string
		}{
			{"tenant B", audit.Options{Filter: audit.Filter{Tenant: tenantB}},
				[]string{"webhooks webhook.created " + whB + " admin", "events claim.opened",
					"attempts attempt " + whB, "diverted diverted " + whB, "diverted diverted.deleted " + whB + " admin"},
				[]string{whA, "tokens", "policy"}},
			{"tenant A tokens", audit.Options{Streams: []audit.Stream{audit.StreamTokens}, Filter: audit.Filter{Tenant: tenantA}},
				[]string{"tokens token.created " + tok + " admin", "tokens token.revoked " + tok + " admin"}, nil},
			{"tenant A tokens since the revocation", audit.Options{Streams: []audit.Stream{audit.StreamTokens},
				Filter: audit.Filter{Tenant: tenantA, Since: times["tokens token.revoked "+tok+" admin"]}},
				[]string{"tokens token.revoked " + tok + " admin"}, []string{"token.created"}},
			{"tenant B tokens", audit.Options{Streams: []audit.Stream{audit.StreamTokens}, Filter: audit.Filter{Tenant: tenantB}},
				nil, []string{"tokens"}},
			{"webhook A", audit.Options{Filter: audit.Filter{Webhook: whA}},
				[]string{"webhooks webhook.created " + whA + " admin", "webhooks webhook.updated " + whA + " " + tok, "attempts attempt " + whA},
				[]string{whB, "events", "tokens", "diverted"}},
			{"event e1", audit.Options{Filter: audit.Filter{Event: f.e1}},
				[]string{"events policy.issue", "attempts attempt " + whA}, []string{"webhooks", "tokens", "diverted", "policy.cancel", whB}},
			{"event e4", audit.Options{Filter: audit.Filter{Event: f.e4}},
				[]string{"events claim.opened", "attempts attempt " + whB, "diverted diverted.deleted " + whB + " admin"},
				[]string{"webhooks", "policy", whA}},
			{"type policy.cancel", audit.Options{Filter: audit.Filter{Type: "policy.cancel"}},
				[]string{"events policy.cancel"}, []string{"webhooks", "attempts", "policy.issue", "claim"}},
			{"type webhook.updated", audit.Options{Filter: audit.Filter{Type: hookstream.WebhookUpdated}},
				[]string{"webhooks webhook.updated " + whA + " admin", "webhooks webhook.updated " + whA + " " + tok},
				[]string{"webhook.created", "secret_rotated", "events", "tokens"}},
			{"since rotation", audit.Options{Streams: []audit.Stream{audit.StreamWebhooks}, Filter: audit.Filter{Since: rotated}},
				[]string{"webhooks webhook.secret_rotated " + whA + " admin", "webhooks webhook.updated " + whA + " " + tok},
				[]string{"webhook.created", "webhook.updated " + whA + " admin"}},
			{"until B created", audit.Options{Filter: audit.Filter{Until: createdB}},
				[]string{"webhooks webhook.created " + whA + " admin", "webhooks webhook.created " + whB + " admin"},
				[]string{"webhook.updated", "tokens", "events", "attempts"}},
			{"tenant A and type", audit.Options{Filter: audit.Filter{Tenant: tenantA, Type: "policy.issue"}},
				[]string{"events policy.issue", "events invalid"}, []string{"policy.cancel", "claim", "webhooks", "attempts"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				lines := f.replay(tc.o)
				got := strings.Join(summary(lines), "\n")
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("lines lack %q:\n%s", w, got)
					}
				}
				for _, a := range tc.absent {
					if strings.Contains(got, a) {
						t.Errorf("lines hold %q:\n%s", a, got)
					}
				}
				if len(lines) >= len(all) {
					t.Errorf("filter kept all %d lines", len(all))
				}
			})
		}
		// e1 exactly: one event line, one attempt line.
		if got := summary(f.replay(audit.Options{Filter: audit.Filter{Event: f.e1}})); len(got) != 2 {
			t.Errorf("event e1: %q", got)
		}
		if got := f.replay(audit.Options{Filter: audit.Filter{Tenant: tenantA, Type: "policy.issue"}}); len(got) != 3 {
			t.Errorf("tenant A policy.issue: %q", summary(got))
		}
	})

	t.Run("bad filters", func(t *testing.T) {
		r := audit.New(f.streams)
		for field, filter := range map[string]audit.Filter{
			"tenant": {Tenant: "nope"}, "webhook": {Webhook: "x"}, "event": {Event: f.whA}, "type": {Type: "a.*"},
			"until": {Since: time.Now(), Until: time.Now().Add(-time.Hour)},
		} {
			err := r.Run(context.Background(), audit.Options{Filter: filter}, audit.NewJSONWriter(io.Discard))
			var fe *audit.FieldError
			if !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("%s: error %v", field, err)
			}
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sink := &chanSink{lines: make(chan *audit.Line, 64)}
		caughtUp := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- audit.New(f.streams).Run(ctx, audit.Options{Streams: []audit.Stream{audit.StreamEvents, audit.StreamWebhooks},
				Filter: audit.Filter{Tenant: tenantA}, Follow: true, CaughtUp: func() { close(caughtUp) }}, sink)
		}()
		timeout := time.After(15 * time.Second)
		existing := 0
	wait:
		for {
			select {
			case <-sink.lines:
				existing++
			case <-caughtUp:
				break wait
			case err := <-done:
				t.Fatalf("replay ended before catching up: %v", err)
			case <-timeout:
				t.Fatal("no catch-up in 15 s")
			}
		}
		// Lines written before CaughtUp may still be in the channel.
		for len(sink.lines) > 0 {
			<-sink.lines
			existing++
		}
		if existing != 4+4 { // e1, e2, e3, the invalid one; 4 changes of webhook A
			t.Fatalf("%d existing lines before following", existing)
		}
		e5 := f.publish(tenantA, "policy.renew")
		f.publish(tenantB, "claim.closed") // another tenant: filtered out
		select {
		case l := <-sink.lines:
			var ev hookstream.Event
			if err := json.Unmarshal(l.Entry, &ev); err != nil || ev.Locator != e5 || l.Stream != audit.StreamEvents {
				t.Fatalf("followed line %+v (%v), want event %s", l, err, e5)
			}
		case err := <-done:
			t.Fatalf("replay ended while following: %v", err)
		case <-timeout:
			t.Fatal("the new event did not arrive in 15 s")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("follow ended with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("follow did not end after cancel")
		}
		if len(sink.lines) != 0 {
			t.Errorf("unexpected line %+v", <-sink.lines)
		}
	})

	t.Run("an attempts batch is a line per attempt", func(t *testing.T) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		webhook := "01JBATCHWEBH00K0000000000Z"
		var attempts []*hookstream.Attempt
		for i := range 3 {
			event := hookstream.EventLocator(now, uint64(900001+i))
			attempts = append(attempts, &hookstream.Attempt{Locator: hookstream.DerivedLocator(now, event, webhook, "0"), Tenant: tenantA,
				Webhook: webhook, Event: event, Status: hookstream.AttemptSuccess, StatusCode: 200, LatencyMs: float64(i + 1),
				Created: now})
		}
		data, _ := json.Marshal(&hookstream.DeliveryRecord{Type: hookstream.RecordAttempts, Tenant: tenantA, Webhook: webhook,
			Time: attempts[2].Ended(), Attempts: attempts})
		ack, err := f.js.Publish(context.Background(), "hookstream.attempts."+tenantA+"."+webhook, data)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range f.replay(audit.Options{Streams: []audit.Stream{audit.StreamAttempts}, Filter: audit.Filter{Webhook: webhook}}) {
			if uint64(l["sequence"].(float64)) != ack.Sequence {
				t.Fatalf("line of another message: %v", l)
			}
			record, _ := l["record"].(float64)
			got = append(got, fmt.Sprintf("%d %s %s %s %s", int(record), entry(l, "type"), entry(l, "event"),
				entry(l, "attempt", "locator"), entry(l, "time")))
		}
		var want []string
		for i, a := range attempts {
			want = append(want, fmt.Sprintf("%d attempt %s %s %s", i+1, a.Event, a.Locator, a.Ended().Format(time.RFC3339Nano)))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("lines of the batch\n got %q\nwant %q", got, want)
		}
		// The event filter picks the one attempt of the batch that is the event's.
		lines := f.replay(audit.Options{Streams: []audit.Stream{audit.StreamAttempts}, Filter: audit.Filter{Event: attempts[1].Event}})
		if len(lines) != 1 || lines[0]["record"] != float64(2) || entry(lines[0], "attempt", "locator") != attempts[1].Locator {
			t.Fatalf("event filter on a batch: %v", lines)
		}
	})

	t.Run("offline gives the same lines", func(t *testing.T) {
		online, _ := f.replayRaw(audit.New(f.streams), audit.Options{})
		if _, err := audit.OpenOffline(context.Background(), f.cfg.Data, "hookstream", slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil ||
			!strings.Contains(err.Error(), "in use") {
			t.Fatalf("offline open of a running engine's folder: %v", err)
		}
		f.stop()
		o, err := audit.OpenOffline(context.Background(), f.cfg.Data, "hookstream", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		offline, lines := f.replayRaw(o.Replayer, audit.Options{})
		if offline != online {
			t.Fatalf("offline differs from online\nonline:\n%s\noffline:\n%s", online, offline)
		}
		if len(lines) < len(all) {
			t.Fatalf("offline: %d lines, fewer than %d", len(lines), len(all))
		}
		// Filters work offline too.
		if _, got := f.replayRaw(o.Replayer, audit.Options{Filter: audit.Filter{Webhook: whB}}); len(got) != 4 {
			t.Errorf("offline webhook B: %q", summary(got))
		}
	})
}

// chanSink hands lines to a channel.
type chanSink struct{ lines chan *audit.Line }

func (s *chanSink) Write(l *audit.Line) error { s.lines <- l; return nil }
func (s *chanSink) Flush() error              { return nil }
