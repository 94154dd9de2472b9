package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openBench starts an embedded NATS server (no listener) with hookstream's streams in a temp folder, and opens
// a views file there.
func openBench(b *testing.B) (*broker.Broker, *projections.Store) {
	b.Helper()
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := broker.Open(context.Background(), broker.Config{Prefix: broker.DefaultPrefix,
		Embedded: broker.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", NoListen: true},
		Streams:  broker.StreamOptions{Replicas: 1, DuplicateWindow: time.Minute}}, log)
	if err != nil {
		b.Fatal(err)
	}
	store, err := projections.Open(filepath.Join(dir, "views.db"), br.JS, projections.Options{StreamName: br.Subjects.StreamName}, log)
	if err != nil {
		br.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = store.Close()
		br.Close()
	})
	return br, store
}

// publishAll appends messages asynchronously and waits for every ack.
func publishAll(b *testing.B, js jetstream.JetStream, msgs []*nats.Msg) {
	b.Helper()
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		b.Fatal("publish did not complete")
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			b.Fatal(err)
		default:
		}
	}
}

func benchTenant(i int) string { return fmt.Sprintf("6f1c5f3e-0d7e-4c55-9a36-%012x", i) }

// BenchmarkSubscribers measures fan-out matching, Webhooks.Subscribers, on a webhooks view fed from the stream
// of a real embedded JetStream into a real bbolt file. Each webhook subscribes to a type of its own and to
// "shared.type": match=one looks up a type one webhook takes (the cost must not grow with the webhooks of the
// tenant: an index lookup, not a scan), match=all the type every webhook of the tenant takes (the cost grows
// with the answer). index-B/webhook is the heap the view holds per webhook (index and current state),
// measured around the apply, from 1,000 webhooks up (below, the view's fixed buffers dominate it).
func BenchmarkSubscribers(b *testing.B) {
	for _, size := range []struct{ tenants, perTenant int }{{1, 1}, {1, 100}, {1, 10000}, {1000, 10}} {
		b.Run(fmt.Sprintf("tenants=%d/webhooks=%d", size.tenants, size.perTenant), func(b *testing.B) {
			br, store := openBench(b)
			now := time.Now().UTC()
			policy := hookstream.Policy{}
			var msgs []*nats.Msg
			for t := range size.tenants {
				for i := range size.perTenant {
					loc := hookstream.NewLocator(now)
					e, err := policy.CreateWebhook(benchTenant(t), loc, "bench", now, &hookstream.WebhookCreate{
						Name: fmt.Sprint("w", i), Endpoint: &hookstream.EndpointCreate{URL: "https://example.com/hook"},
						EventTypes: []string{fmt.Sprintf("own.type%d", i), "shared.type"},
					})
					if err != nil {
						b.Fatal(err)
					}
					data, _ := json.Marshal(e)
					msgs = append(msgs, &nats.Msg{Subject: br.Subjects.Webhook(benchTenant(t), loc), Data: data})
				}
			}
			// The heap is measured around the apply alone (store and consumer already started, messages
			// already built), so index-B/webhook is what each webhook adds.
			webhooks := projections.NewWebhooks(store)
			if err := store.Start(context.Background(), webhooks); err != nil {
				b.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			publishAll(b, br.JS, msgs)
			if err := store.WaitCaughtUp(context.Background()); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(msgs)
			total := size.tenants * size.perTenant
			heapPerWebhook := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(total)
			tenant := benchTenant(size.tenants / 2)
			one := fmt.Sprintf("own.type%d", size.perTenant/2)
			if got := len(webhooks.Subscribers(tenant, one)); got != 1 {
				b.Fatalf("%d subscribers of %s", got, one)
			}
			for _, match := range []struct {
				name, eventType string
				want            int
			}{{"one", one, 1}, {"all", "shared.type", size.perTenant}} {
				b.Run("match="+match.name, func(b *testing.B) {
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						n += len(webhooks.Subscribers(tenant, match.eventType))
					}
					if n != b.N*match.want {
						b.Fatalf("matched %d, want %d per lookup", n/b.N, match.want)
					}
					if total >= 1000 { // below, the view's fixed buffers dominate the figure
						b.ReportMetric(heapPerWebhook, "index-B/webhook")
					}
				})
			}
		})
	}
}
