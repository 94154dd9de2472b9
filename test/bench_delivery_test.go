package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// countingReceiver is a minimal loopback endpoint: it counts requests and reports when a target is reached.
type countingReceiver struct {
	srv    *httptest.Server
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
	once   sync.Once
	// onBody, when set, sees every body with its receipt time.
	onBody func(body []byte, at time.Time)
}

func newCountingReceiver(b *testing.B) *countingReceiver {
	rc := &countingReceiver{done: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rc.onBody != nil {
			rc.onBody(body, time.Now())
		}
		if n := rc.count.Add(1); n == rc.target.Load() {
			rc.once.Do(func() { close(rc.done) })
		}
	}))
	b.Cleanup(rc.srv.Close)
	return rc
}

func (rc *countingReceiver) expect(n int64) {
	rc.count.Store(0)
	rc.target.Store(n)
	rc.done = make(chan struct{})
	rc.once = sync.Once{}
}

// rawPosts sends n POSTs of body to url from `concurrency` goroutines and returns the rate: the baseline a
// delivery engine is measured against, on the same receiver, in the same run.
func rawPosts(b *testing.B, url string, body []byte, n, concurrency int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func payload(size int) map[string]any {
	return map[string]any{"pad": string(bytes.Repeat([]byte("x"), max(size-12, 0)))}
}

// BenchmarkDeliveryThroughput publishes b.N events over NATS in a burst to a tenant with 1 or 5 webhooks on a
// loopback receiver and reports deliveries/s, the raw HTTP POST rate to the same receiver at the same
// concurrency (measured in the same run), and their ratio.
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, webhooks := range []int{1, 5} {
		b.Run(fmt.Sprintf("webhooks=%d", webhooks), func(b *testing.B) {
			h := startEngineB(b)
			rc := newCountingReceiver(b)
			for i := range webhooks {
				h.createWebhookB(b, fmt.Sprintf("/w%d", i), rc.srv.URL+fmt.Sprintf("/w%d", i))
			}
			data, _ := json.Marshal(payload(512))
			total := int64(b.N * webhooks)
			baselineBody, _ := json.Marshal(map[string]any{"locator": "01J00000000000000000000000", "type": "bench.event", "data": json.RawMessage(data)})
			baseline := rawPosts(b, rc.srv.URL+"/raw", baselineBody, int(total), h.cfg.MaxInFlightPerEndpoint*webhooks)

			nc, err := nats.Connect(h.engine.NATSURL())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			rc.expect(total)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := js.PublishAsync("hookstream.events."+tenantA+".bench.event", data); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-rc.done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("delivered %d of %d", rc.count.Load(), total)
			}
			rate := float64(total) / time.Since(start).Seconds()
			b.StopTimer()
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(baseline, "raw-posts/s")
			b.ReportMetric(rate/baseline, "ratio")
		})
	}
}

// BenchmarkDeliveryLatency offers a steady 1,000 events/s over NATS to one webhook and reports the publish →
// receipt latency percentiles. b.N is the number of events (use -benchtime 3000x for 3 s).
func BenchmarkDeliveryLatency(b *testing.B) {
	h := startEngineB(b)
	rc := newCountingReceiver(b)
	var mu sync.Mutex
	var latencies []time.Duration
	rc.onBody = func(body []byte, at time.Time) {
		var e struct {
			Data struct {
				Sent int64 `json:"sent"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &e) == nil {
			mu.Lock()
			latencies = append(latencies, at.Sub(time.Unix(0, e.Data.Sent)))
			mu.Unlock()
		}
	}
	h.createWebhookB(b, "latency", rc.srv.URL+"/l")
	nc, err := nats.Connect(h.engine.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	rc.expect(int64(b.N))
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for range b.N {
		<-tick.C
		if _, err := js.PublishAsync("hookstream.events."+tenantA+".bench.latency", fmt.Appendf(nil, `{"sent":%d}`, time.Now().UnixNano())); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-rc.done:
	case <-time.After(time.Minute):
		b.Fatalf("delivered %d of %d", rc.count.Load(), b.N)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.90), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
}

func (h *harness) createWebhookB(b *testing.B, name, url string) {
	data, _ := json.Marshal(webhookBody(name, url, nil))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.base+wpath(tenantA, ""), bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("create webhook: %d", resp.StatusCode)
	}
}
