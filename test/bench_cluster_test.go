package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkClusterDeliveries publishes b.N events in a burst to a 3-node JetStream cluster (in-process, R3
// streams) and reports deliveries/s to one loopback webhook with 1 and with 2 hookstream instances sharing
// the consumers, and with 3.
func BenchmarkClusterDeliveries(b *testing.B) {
	for _, instances := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			nodes := startNATSCluster(b)
			urls := clusterURLs(nodes)
			var first *harness
			for range instances {
				cfg := benchConfig(b)
				cfg.NATS, cfg.Replicas = urls, 3
				e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					_ = e.Stop(ctx)
				})
				if first == nil {
					first = &harness{cfg: cfg, engine: e, base: "http://" + e.HTTPAddr()}
				}
			}
			rc := newCountingReceiver(b)
			first.createWebhookB(b, "cluster", rc.srv.URL+"/c")
			// No wait for the other instance: a router routes only once its webhooks view has the stream's tail.
			nc, err := nats.Connect(urls)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			data, _ := json.Marshal(payload(512))
			rc.expect(int64(b.N))
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := js.PublishAsync("hookstream.events."+tenantA+".bench.cluster", data, jetstream.WithStallWait(time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-rc.done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("delivered %d of %d", rc.count.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
