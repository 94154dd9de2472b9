package test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkFIFOThroughput publishes b.N events over NATS in a burst to one FIFO webhook whose receiver takes
// 1 ms to answer, and reports deliveries/s against sequential raw POSTs to the same receiver in the same run:
// a FIFO webhook has one request in flight at a time, so one round trip bounds it.
func BenchmarkFIFOThroughput(b *testing.B) {
	h := startEngineB(b)
	var count, target atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond) // the receiver's own work
		if count.Add(1) == target.Load() {
			close(done)
		}
	}))
	b.Cleanup(srv.Close)
	data, _ := json.Marshal(webhookBody("fifo", srv.URL+"/fifo", map[string]any{"ordering": "fifo"}))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.base+wpath(tenantA, ""), bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("create webhook: %v %v", err, resp)
	}
	resp.Body.Close()

	event, _ := json.Marshal(payload(512))
	target.Store(-1)
	baseline := rawPosts(b, srv.URL+"/raw", event, 1000, 1)
	nc, err := nats.Connect(h.engine.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	count.Store(0)
	target.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := js.PublishAsync("hookstream.events."+tenantA+".bench.fifo", event); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d", count.Load(), b.N)
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(baseline, "raw-sequential-posts/s")
	b.ReportMetric(rate/baseline, "ratio")
}
