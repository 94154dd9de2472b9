package projections_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
)

// scaleTenants is how many tenants the events of BenchmarkViewsAtScale are spread over, round robin, so
// that the views' keys arrive in a hundred runs, as a deployment's do, not in one.
const scaleTenants = 100

// BenchmarkViewsAtScale projects b.N events of 512 bytes of data, each with one successful attempt, into a
// views file (the events and attempts views, each applying 512 messages per transaction, no fsync, as a
// rebuild does) and reports, for each tenth of the run, the time the views' transactions took per event
// with its attempt and the file's size per event: whether either grows with the file. docs/scaling.md
// says how to run it at scale and the disk it needs.
func BenchmarkViewsAtScale(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "views-scale.db")
	_ = os.Remove(path)
	b.Cleanup(func() { _ = os.Remove(path) })
	store, err := projections.Open(path, nil, projections.Options{NoSync: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	subjects := broker.Subjects{Prefix: broker.DefaultPrefix}
	views := []projections.View{projections.NewEvents(store, subjects), projections.NewAttempts(store)}
	makeBuckets(b, store, views...)
	data := []byte(`{"policy":"` + strings.Repeat("x", 512-13) + `"}`)
	start := time.Now().UTC().Add(-time.Hour)
	const batch = 512 // events per transaction, each with its attempt record
	tenth := max(b.N/10, batch)
	events := make([]*projections.Msg, 0, batch)
	records := make([]*projections.Msg, 0, batch)
	b.ResetTimer()
	mark, spent := 0, time.Duration(0) // spent: in the views' transactions since mark
	for i := 0; i < b.N; i += batch {
		b.StopTimer() // making the messages is the producer's and the worker's cost, not the views'
		events, records = events[:0], records[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			tenant := benchTenant(j % scaleTenants)
			at := start.Add(time.Duration(j) * 100 * time.Microsecond)
			seq := uint64(j + 1)
			events = append(events, &projections.Msg{Subject: subjects.Event(tenant, "policy.issue"), Seq: seq, Time: at, Data: data})
			event := hookstream.EventLocator(at, seq)
			a := &hookstream.Attempt{Locator: hookstream.DerivedLocator(at, event, benchWebhook, "0"), Tenant: tenant, Webhook: benchWebhook,
				Event: event, EventSeq: seq, URL: "https://hooks.example.com/policy", Status: hookstream.AttemptSuccess,
				StatusCode: 200, ResponseBody: `{"ok":true}`, LatencyMs: 1.25, Created: at.Add(2 * time.Millisecond)}
			rec, err := json.Marshal(&hookstream.DeliveryRecord{Type: hookstream.RecordAttempt, Tenant: tenant, Webhook: benchWebhook,
				Event: event, Time: a.Created, Attempt: a})
			if err != nil {
				b.Fatal(err)
			}
			records = append(records, &projections.Msg{Subject: subjects.Attempts(tenant, benchWebhook), Seq: seq, Time: a.Created, Data: rec})
		}
		b.StartTimer()
		began := time.Now()
		for k, msgs := range [][]*projections.Msg{events, records} {
			applyBatch(b, store, views[k], msgs)
		}
		spent += time.Since(began)
		if done := min(i+batch, b.N); b.N >= 10*batch && (done-mark >= tenth || done == b.N) {
			b.StopTimer()
			size := fileSize(b, path)
			b.Logf("%10d events: %5.1f µs per event with its attempt over the last %d; file %6.2f GB, %4.0f B per event",
				done, float64(spent.Microseconds())/float64(done-mark), done-mark, float64(size)/1e9, float64(size)/float64(done))
			mark, spent = done, 0
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(fileSize(b, path))/float64(b.N), "file-B/event")
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
