package delivery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
)

// BenchmarkAttemptRecord measures recording attempts' outcomes into the attempts stream of an embedded
// JetStream (no listener; fsync on the server's interval), each caller awaiting its record's publish ack:
// "each" appends one message per record with a message id derived from the attempt, as the worker did
// before batching; "batched" goes through the attempt recorder without lingering, batching only what queues
// during a write; "lingering" waits batchLinger for more, as the worker does now. One client at a time shows
// the round trip; `clients` concurrent callers on one webhook's subject (as many as deliveries concluding at
// once) show the throughput. Lingering callers that each await their record before the next (few clients)
// measure the wait itself: the worker's endpoint slots do not await records, so only a task's ack does.
func BenchmarkAttemptRecord(b *testing.B) {
	const tenant, webhook = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10", "01JBENCHWEBH00KS0000000000"
	for _, mode := range []string{"each", "batched", "lingering"} {
		for _, clients := range []int{1, 16, 80} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				br, err := broker.Open(context.Background(), broker.Config{Prefix: broker.DefaultPrefix,
					Embedded: broker.EmbeddedConfig{DataDir: b.TempDir(), Listen: "127.0.0.1:0", NoListen: true},
					Streams:  broker.StreamOptions{Replicas: 1, DuplicateWindow: 2 * time.Minute}}, log)
				if err != nil {
					b.Fatal(err)
				}
				defer br.Close()
				subject := br.Subjects.Attempts(tenant, webhook)
				linger := time.Duration(0)
				if mode == "lingering" {
					linger = batchLinger
				}
				recorder := newAttemptRecorder(br, recordTimeout, linger)
				record := func(ctx context.Context, a *hookstream.Attempt) error {
					if mode != "each" {
						return recorder.record(ctx, subject, a)
					}
					_, err := br.AppendJSON(ctx, subject, &hookstream.DeliveryRecord{Type: hookstream.RecordAttempt, Tenant: tenant,
						Webhook: webhook, Event: a.Event, Time: a.Ended(), Attempt: a}, broker.AppendOptions{MsgID: "att/" + a.Locator})
					return err
				}
				start := time.Now().UTC()
				var next atomic.Int64
				b.ReportAllocs()
				b.SetParallelism((clients + 1) / 2) // RunParallel runs parallelism × GOMAXPROCS (2) goroutines
				if clients == 1 {
					b.SetParallelism(1)
				}
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						i := next.Add(1)
						now := start.Add(time.Duration(i) * 200 * time.Microsecond)
						event := hookstream.EventLocator(now, uint64(i))
						a := &hookstream.Attempt{Locator: hookstream.DerivedLocator(now, event, webhook, "0"), Tenant: tenant, Webhook: webhook,
							Event: event, EventSeq: uint64(i), URL: "https://hooks.example.com/policy", Status: hookstream.AttemptSuccess,
							StatusCode: 200, ResponseBody: `{"ok":true}`, LatencyMs: 1.25, Created: now}
						if err := record(ctx, a); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
