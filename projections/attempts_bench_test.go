package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/projections"
	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"
)

const benchWebhook = "01JBENCHWEBH00KS0000000000"

// benchAttempt is the i-th successful first try, as the worker records it, of events 200 µs apart (5,000
// deliveries/s), so keys arrive in the order a live engine writes them.
func benchAttempt(i int, start time.Time) *hookstream.Attempt {
	now := start.Add(time.Duration(i) * 200 * time.Microsecond)
	event := hookstream.EventLocator(now, uint64(i+1))
	return &hookstream.Attempt{Locator: hookstream.DerivedLocator(now, event, benchWebhook, "0"), Tenant: benchTenant(0), Webhook: benchWebhook,
		Event: event, EventSeq: uint64(i + 1), URL: "https://hooks.example.com/policy", Status: hookstream.AttemptSuccess,
		StatusCode: 200, ResponseBody: `{"ok":true}`, LatencyMs: 1.25, Created: now}
}

// attemptRecord is the record of benchAttempt(i) on its own.
func attemptRecord(i int, start time.Time) *hookstream.DeliveryRecord {
	a := benchAttempt(i, start)
	return &hookstream.DeliveryRecord{Type: hookstream.RecordAttempt, Tenant: a.Tenant, Webhook: a.Webhook, Event: a.Event, Time: a.Created, Attempt: a}
}

// attemptsRecord is an attempts batch of benchAttempt(i) to benchAttempt(i+n-1), as the recorder writes the
// outcomes of one webhook that queued during its previous write.
func attemptsRecord(i, n int, start time.Time) *hookstream.DeliveryRecord {
	if n == 1 {
		return attemptRecord(i, start)
	}
	r := &hookstream.DeliveryRecord{Type: hookstream.RecordAttempts, Tenant: benchTenant(0), Webhook: benchWebhook, Time: start}
	for j := range n {
		r.Attempts = append(r.Attempts, benchAttempt(i+j, start))
	}
	return r
}

// BenchmarkAttemptsApply measures the attempts view's Apply of attempts into a real bbolt file, `per` to a
// record (1: attempt records; more: attempts batches), in write transactions of `batch` attempts each committed
// (and fsynced) as the view's runner commits them: the cost of projecting one delivery's outcome.
func BenchmarkAttemptsApply(b *testing.B) {
	for _, c := range []struct{ batch, per int }{{1, 1}, {64, 1}, {512, 1}, {512, 16}} {
		batch, per := c.batch, c.per
		b.Run(fmt.Sprintf("batch=%d/per=%d", batch, per), func(b *testing.B) {
			store, view := openAttempts(b)
			now := time.Now().UTC()
			msgs := make([]*projections.Msg, 0, batch)
			b.ReportAllocs()
			seq := 0
			for i := 0; i < b.N; i += batch {
				// Encoding is the worker's cost, not the view's: done outside the timer.
				b.StopTimer()
				msgs = msgs[:0]
				for j := 0; j < min(batch, b.N-i); j += per {
					seq++
					data, _ := json.Marshal(attemptsRecord(i+j, min(per, b.N-i-j), now))
					msgs = append(msgs, &projections.Msg{Subject: "hookstream.attempts." + benchTenant(0) + "." + benchWebhook,
						Seq: uint64(seq), Time: now, Data: data})
				}
				b.StartTimer()
				applyBatch(b, store, view, msgs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
			b.ReportMetric(float64(allocated(b, store.DB(), view.Buckets()))/float64(b.N), "page-bytes/attempt")
		})
	}
}

// allocated is the bytes of pages that buckets take in db: what a view's records cost on disk and, read back
// through bbolt's mmap, in resident memory.
func allocated(b *testing.B, db *bolt.DB, buckets []string) int {
	n := 0
	if err := db.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			s := tx.Bucket([]byte(name)).Stats()
			n += s.BranchAlloc + s.LeafAlloc
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkAttemptsViewCatchUp measures the attempts view end to end: b.N attempt records already in the
// attempts stream of an embedded JetStream are read by the view's ordered consumer and applied in batches
// (the store's own batching, linger and fsync) until the view has caught up.
func BenchmarkAttemptsViewCatchUp(b *testing.B) {
	br, store := openBench(b)
	now := time.Now().UTC()
	msgs := make([]*nats.Msg, b.N)
	for i := range msgs {
		r := attemptRecord(i, now)
		data, _ := json.Marshal(r)
		msgs[i] = &nats.Msg{Subject: br.Subjects.Attempts(r.Tenant, r.Webhook), Data: data}
	}
	publishAll(b, br.JS, msgs)
	b.ResetTimer()
	if err := store.Start(context.Background(), projections.NewAttempts(store)); err != nil {
		b.Fatal(err)
	}
	if err := store.WaitCaughtUp(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
