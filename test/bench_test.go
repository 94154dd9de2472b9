package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkWebhookCreate measures webhook creation through the HTTP API, end to end: validation, the
// JetStream append with optimistic concurrency, and the wait for the view (read-your-writes).
func BenchmarkWebhookCreate(b *testing.B) {
	h := startEngineB(b)
	body := webhookBody("bench", "https://example.com/hook", map[string]any{"eventTypes": []string{"policy.issue"}})
	data, _ := json.Marshal(body)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{}
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, h.base+wpath(tenantA, ""), bytes.NewReader(data))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}

// BenchmarkProjectionRebuild measures `hookstream rebuild`: 100,000 webhook change events (1,000 webhooks,
// each created then updated 99 times) replayed from the stream into a fresh views file.
func BenchmarkProjectionRebuild(b *testing.B) {
	const webhooks, updatesEach = 1000, 99
	cfg := benchConfig(b)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := engine.OpenBroker(ctx, cfg, log, true)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	policy := hookstream.Policy{AllowPrivateDestinations: true}
	var futures []jetstream.PubAckFuture
	publish := func(subject string, v any) {
		data, _ := json.Marshal(v)
		f, err := br.JS.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data})
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for i := range webhooks {
		loc := hookstream.NewLocator(now)
		e, err := policy.CreateWebhook(tenantA, loc, "bench", now, &hookstream.WebhookCreate{
			Name: fmt.Sprint("w", i), Endpoint: &hookstream.EndpointCreate{URL: "https://example.com/x"}, EventTypes: []string{"a.b"},
		})
		if err != nil {
			b.Fatal(err)
		}
		publish(br.Subjects.Webhook(tenantA, loc), e)
		for j := range updatesEach {
			name := fmt.Sprint("w", i, "-", j)
			publish(br.Subjects.Webhook(tenantA, loc), &hookstream.WebhookEvent{Type: hookstream.WebhookUpdated, Tenant: tenantA,
				Webhook: loc, Actor: "bench", Time: now, Update: &hookstream.WebhookUpdate{Name: &name, AddEventTypes: []string{"c.d"}}})
		}
	}
	select {
	case <-br.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publish did not complete")
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			b.Fatal(err)
		default:
		}
	}
	br.Close()

	b.ResetTimer()
	var total uint64
	var applying time.Duration
	for b.Loop() {
		stats, err := engine.Rebuild(ctx, cfg, log, engine.RebuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		total += stats.Messages
		applying += stats.Elapsed
	}
	// events/s counts the whole command (NATS start included); apply-events/s the replay alone, as
	// `hookstream rebuild` reports it.
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(total)/applying.Seconds(), "apply-events/s")
}

func benchConfig(b *testing.B) *config.Config {
	c := config.Default()
	c.HTTP, c.NATSListen, c.Data = "127.0.0.1:0", "127.0.0.1:0", b.TempDir()
	c.AllowPrivateDestinations, c.DeliveryTimeout, c.LogLevel, c.AdminToken = true, 2*time.Second, "warn", adminToken
	return c
}

// startEngineB starts an engine for a benchmark and stops it at the end.
func startEngineB(b *testing.B) *harness {
	b.Helper()
	cfg := benchConfig(b)
	e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return &harness{cfg: cfg, engine: e, base: "http://" + e.HTTPAddr()}
}
