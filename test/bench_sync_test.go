package test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkIngestSync measures what the fsync policy (--sync) costs at ingestion: events acknowledged per
// second over NATS (asynchronous publishes, every ack awaited) and over HTTP (POST /event/{t}/events from 16
// clients), with sync=interval and sync=always. No webhook subscribes, so delivery does not compete.
// Run with a count: -bench IngestSync -benchtime 5000x.
func BenchmarkIngestSync(b *testing.B) {
	for _, policy := range []string{"interval", "always"} {
		b.Run("sync="+policy, func(b *testing.B) {
			b.Run("nats", func(b *testing.B) { benchIngestNATS(b, policy) })
			b.Run("http", func(b *testing.B) { benchIngestHTTP(b, policy) })
		})
	}
}

// startEngineSync starts an engine for a benchmark with the given fsync policy and stops it at the end.
func startEngineSync(b *testing.B, policy string) *harness {
	b.Helper()
	cfg := benchConfig(b)
	cfg.Sync = policy
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

// benchPayload is a small, typical event body.
func benchPayload(i int) string {
	return fmt.Sprintf(`{"policyLocator":"P-%08d","premium":1234.56,"currency":"EUR","holder":{"name":"A. Tester","country":"DE"}}`, i)
}

func benchIngestNATS(b *testing.B, policy string) {
	h := startEngineSync(b, policy)
	nc, err := nats.Connect(h.engine.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	subject := "hookstream.events." + tenantA + ".policy.issue"
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i] = []byte(benchPayload(i))
	}
	futures := make([]jetstream.PubAckFuture, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		f, err := js.PublishAsync(subject, payloads[i], jetstream.WithStallWait(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("publish acks did not all arrive within 5 minutes")
	}
	b.StopTimer()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatalf("publish: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchIngestHTTP(b *testing.B, policy string) {
	const clients = 16
	h := startEngineSync(b, policy)
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: time.Minute}
	url := h.base + "/event/" + tenantA + "/events"
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		failures atomic.Value
	)
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := `{"type":"policy.issue","data":` + benchPayload(int(i)) + `}`
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failures.CompareAndSwap(nil, err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode))
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if f := failures.Load(); f != nil {
		b.Fatalf("publish over HTTP: %v", f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
