package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkRebuild rebuilds the views of a generated data folder shaped like a delivery run's: events to one
// webhook of one tenant, each delivered once, the attempts recorded in batches as the delivery path does.
func BenchmarkRebuild(b *testing.B) {
	if testing.Short() {
		b.Skip("publishes a large data folder")
	}
	const events, attemptsPerRecord = 200_000, 52
	const tenant = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"
	cfg := rebuildConfig(b.TempDir())
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := OpenBroker(ctx, cfg, log, true)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	webhook := hookstream.NewLocator(now)
	pad := strings.Repeat("x", 440)
	var futures []jetstream.PubAckFuture
	publish := func(m *nats.Msg) {
		f, err := br.JS.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	record := hookstream.DeliveryRecord{Type: hookstream.RecordAttempts, Tenant: tenant, Webhook: webhook, Time: now}
	for seq := uint64(1); seq <= events; seq++ {
		// Spread as a delivery run's are: a few events per millisecond, the resolution of their locators.
		at := now.Add(time.Duration(seq) * 150 * time.Microsecond)
		m := nats.NewMsg(br.Subjects.Event(tenant, "bench.event"))
		m.Data = fmt.Appendf(nil, `{"seq":"%012d","sent":"%d","pad":"%s"}`, seq, at.UnixNano(), pad)
		m.Header.Set("traceparent", fmt.Sprintf("00-%032x-%016x-01", seq, seq))
		m.Header.Set(broker.HeaderIngestedAt, at.Format(time.RFC3339Nano)) // so the attempts name these events
		publish(m)
		created := at.Add(time.Millisecond)
		record.Attempts = append(record.Attempts, &hookstream.Attempt{Locator: hookstream.NewLocator(created), Tenant: tenant,
			Webhook: webhook, Event: hookstream.EventLocator(at, seq), EventSeq: seq, URL: "http://127.0.0.1:9/hook",
			Status: hookstream.AttemptSuccess, StatusCode: 200, LatencyMs: 1.5, Created: created})
		if len(record.Attempts) == attemptsPerRecord || seq == events {
			data, err := json.Marshal(&record)
			if err != nil {
				b.Fatal(err)
			}
			publish(&nats.Msg{Subject: br.Subjects.Attempts(tenant, webhook), Data: data})
			record.Attempts = record.Attempts[:0]
		}
	}
	select {
	case <-br.JS.PublishAsyncComplete():
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
	br.Close()
	benchmarkRebuild(b, cfg, events)
}

// BenchmarkRebuildFolder rebuilds the views of a copy of the data folder named by HOOKSTREAM_REBUILD_DATA (a
// stopped server's), so a real folder's rebuild can be profiled with -cpuprofile.
func BenchmarkRebuildFolder(b *testing.B) {
	src := os.Getenv("HOOKSTREAM_REBUILD_DATA")
	if src == "" {
		b.Skip("HOOKSTREAM_REBUILD_DATA names no data folder to rebuild")
	}
	dir := filepath.Join(b.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v: %s", src, err, out)
	}
	benchmarkRebuild(b, rebuildConfig(dir), 0)
}

func rebuildConfig(dir string) *config.Config {
	cfg := config.Default()
	cfg.HTTP, cfg.NATSListen, cfg.Data, cfg.LogLevel = "127.0.0.1:0", "127.0.0.1:0", dir, "warn"
	return cfg
}

// benchmarkRebuild rebuilds cfg's views and reports the messages applied per second of replay (and the
// events, when their number is known).
func benchmarkRebuild(b *testing.B, cfg *config.Config, events int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var messages uint64
	var replay time.Duration
	runs := 0
	for b.Loop() {
		stats, err := Rebuild(context.Background(), cfg, log, RebuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		messages += stats.Messages
		replay += stats.Elapsed
		runs++
	}
	b.ReportMetric(float64(messages)/replay.Seconds(), "messages/s")
	if events > 0 {
		b.ReportMetric(float64(events*runs)/replay.Seconds(), "events/s")
	}
}
