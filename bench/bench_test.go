package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/engine"
)

func TestPayloadIsFixedSizeJSONAndCarriesItsStamp(t *testing.T) {
	for _, size := range []int{MinPayload, 64, 512, 4096} {
		p := newPayload(size, 7)
		data := p.build(123456, 1767225600123456789)
		if len(data) != size || !json.Valid(data) || data[0] != '{' {
			t.Fatalf("size %d: %d bytes %q", size, len(data), data)
		}
		if seq, sent, ok := parseStamp(data); !ok || seq != 123456 || sent != 1767225600123456789 {
			t.Fatalf("size %d: parsed %d %d %v", size, seq, sent, ok)
		}
		if !bytes.Equal(newPayload(size, 7).template, p.template) {
			t.Fatal("same seed, different payload")
		}
	}
	if bytes.Equal(newPayload(512, 1).template, newPayload(512, 2).template) {
		t.Error("different seeds, same payload")
	}
	// The stamp survives the wrappers: the delivered EventResponse, the ingestion request.
	p := newPayload(200, 1)
	dt, err := deliveryTemplate(p, tenantFor(1))
	if err != nil {
		t.Fatal(err)
	}
	it, err := p.wrap(ingestBody(EventType, p.template))
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range []*payload{dt, it} {
		body := tmpl.build(42, 99)
		if seq, sent, ok := parseStamp(body); !ok || seq != 42 || sent != 99 || !json.Valid(body) {
			t.Errorf("wrapped %s: %d %d %v", body, seq, sent, ok)
		}
	}
	var e hookstream.Event
	if err := json.Unmarshal(dt.template, &e); err != nil || e.Type != EventType || len(e.Locator) != 26 {
		t.Errorf("delivery template %s: %v", dt.template, err)
	}
	if _, _, ok := parseStamp([]byte(`{"seq":"12x"}`)); ok {
		t.Error("parsed a broken stamp")
	}
}

func TestTenantIsStableAndValid(t *testing.T) {
	a := tenantFor(1)
	if a != tenantFor(1) || a == tenantFor(2) {
		t.Fatal("tenant not derived from the seed")
	}
	if err := hookstream.CheckTenant("tenant", a); err != nil {
		t.Fatal(err)
	}
}

func TestPercentileAndLatency(t *testing.T) {
	v := []int64{5e6, 1e6, 3e6, 2e6, 4e6, 6e6, 7e6, 8e6, 9e6, 10e6}
	l := latencyOf(v)
	if l.P50 != 5 || l.P90 != 9 || l.P99 != 10 || l.Max != 10 {
		t.Fatalf("%+v", l)
	}
	if latencyOf(nil) != nil {
		t.Fatal("latency of nothing")
	}
	if got := percentile([]int64{7}, 0.99); got != 7 {
		t.Fatal(got)
	}
}

func TestPhaseCountsEachPairOnce(t *testing.T) {
	p := newPhase(100, 3, 2)
	now := time.Now()
	p.start(now.Add(-5 * time.Millisecond))
	sent := now.Add(-time.Millisecond).UnixNano()
	for _, r := range []struct{ ep, seq int }{{0, 100}, {0, 100}, {1, 100}, {0, 101}, {2, 101}, {0, 99}, {0, 103}, {0, 102}, {1, 101}} {
		p.record(r.ep, r.seq, sent, now)
	}
	select {
	case <-p.done:
		t.Fatal("done before every pair")
	default:
	}
	p.record(1, 102, sent, now)
	<-p.done
	if p.delivered.Load() != 6 || p.duplicates.Load() != 1 {
		t.Fatalf("delivered %d, duplicates %d", p.delivered.Load(), p.duplicates.Load())
	}
	if p.gap.Load() != int64(5*time.Millisecond) {
		t.Fatalf("longest gap %s, want the 5 ms before the first receipt", time.Duration(p.gap.Load()))
	}
	for _, l := range p.latenciesDone() {
		if l != int64(time.Millisecond) {
			t.Fatalf("latency %d", l)
		}
	}
	if empty := newPhase(0, 10, 0); empty.target != 0 {
		t.Fatal("no endpoints, no target")
	} else {
		<-empty.done
	}
}

func TestOptionsValidation(t *testing.T) {
	ok := Options{}.withDefaults()
	if err := ok.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if ok.Webhooks != DefaultWebhooks || ok.Events != DefaultEvents || ok.Payload != DefaultPayload || ok.Rounds != DefaultRounds {
		t.Fatalf("defaults %+v", ok)
	}
	if steady := (Options{Rate: 1000}).withDefaults(); steady.Rounds != 1 {
		t.Fatalf("rounds at a steady rate: %d, want 1", steady.Rounds)
	}
	if in := (Options{IngestHTTP: true}).withDefaults(); in.Webhooks != 0 || in.validate() != nil {
		t.Fatalf("ingest defaults: %+v %v", in, in.validate())
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Payload: 10}, "--payload"},
		{Options{Webhooks: -1}, "--webhooks"},
		{Options{Rate: -1}, "--rate"},
		{Options{Rounds: -1}, "--rounds"},
		{Options{Rounds: 101}, "--rounds"},
		{Options{MaxInFlight: 4, MaxInFlightPerEndpoint: 8}, "--max-in-flight"},
		{Options{Sync: "never"}, "--sync"},
		{Options{GCPercent: 5}, "--gc-percent"},
		{Options{GCPercent: -1}, "--gc-percent"},
		{Options{NATS: "nats://127.0.0.1:4222"}, "give --http too"},
		{Options{HTTP: "http://192.0.2.1:8080", NATS: "nats://127.0.0.1:4222", Token: "t"}, "loopback"},
		{Options{HTTP: "http://127.0.0.1:8080", NATS: "nats://10.0.0.1:4222", Token: "t"}, "loopback"},
		{Options{HTTP: "ftp://127.0.0.1", NATS: "nats://127.0.0.1:4222", Token: "t"}, "scheme"},
		{Options{HTTP: "http://127.0.0.1:8080", NATS: "nats://127.0.0.1:4222"}, "--token is required"},
		{Options{HTTP: "http://127.0.0.1:8080", Token: "t"}, "--nats is required"},
		{Options{HTTP: "http://[::1]:8080", NATS: "nats://localhost:4222", Token: "t", Pprof: "127.0.0.1:0"}, "--pprof"},
		{Options{Pprof: "0.0.0.0:6060"}, "--pprof"},
		{Options{Forwarder: true, Rate: 100}, "--forwarder"},
		{Options{Forwarder: true, IngestHTTP: true}, "--forwarder"},
		{Options{IngestBatch: 1001}, "--ingest-batch"},
		{Options{Spawn: "/bin/hookstream", HTTP: "http://127.0.0.1:8080"}, "--spawn"},
		{Options{Spawn: "/bin/hookstream", Pprof: "0.0.0.0:6060"}, "--pprof"},
	} {
		o := tc.o.withDefaults()
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	remote := Options{HTTP: "http://[::1]:8080/", NATS: "nats://localhost:4222,nats://127.0.0.2:4223", Token: "t"}.withDefaults()
	if err := remote.validate(); err != nil {
		t.Errorf("loopback remote: %v", err)
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345678e+07
process_cpu_seconds_total 3.25
hookstream_deliveries_total{outcome="retry_scheduled"} 42
hookstream_deliveries_total{outcome="success"} 7
`))
	if err != nil {
		t.Fatal(err)
	}
	if m[metricRSS] != 12345678 || m[metricCPU] != 3.25 || m[metricRetryScheduled] != 42 {
		t.Fatalf("%v", m)
	}
}

func TestWriteTable(t *testing.T) {
	r := &Result{Engine: "in-process", Ingestion: "nats", Mode: "rate", Rate: 1000, Webhooks: 5, Events: 20000, PayloadBytes: 512,
		MaxInFlight: 256, MaxInFlightPerEndpoint: 16, Concurrency: 80, Seed: 1, Tenant: tenantFor(1),
		Phase: Phase{Deliveries: 100000, Seconds: 10, DeliveriesPerSecond: 10000, PublishedPerSecond: 2000, LongestPauseMs: 31250,
			Latency: &Latency{P50: 1.5, P90: 2.25, P99: 12.5, Max: 150}, Server: &ServerUsage{PeakRSSBytes: 150e6, CPUSeconds: 12, CPUMicrosPerDelivery: 120, Source: "test"}},
		Baseline:       &Baseline{Requests: 100000, Concurrency: 80, Seconds: 4, PerSecond: 25000},
		Ratio:          0.4,
		Ingest:         &Ingest{Events: 20000, Clients: 64, PerSecond: 5000, Baseline: &Baseline{PerSecond: 20000}, Ratio: 0.25},
		PendingRetries: &PendingRetries{Pending: 100000, Phase: Phase{DeliveriesPerSecond: 9500}, Ratio: 0.95},
		Isolation:      &Isolation{SlowEndpoints: 1, SlowDelayMs: 2000, SlowDelivered: 160, Phase: Phase{DeliveriesPerSecond: 9000}, Ratio: 0.9},
		Rounds: []Round{{PerSecond: 9000, BaselinePerSecond: 30000, Ratio: 0.3, PeakRSSBytes: 180e6}, {PerSecond: 10000, BaselinePerSecond: 25000, Ratio: 0.4},
			{PerSecond: 11000, BaselinePerSecond: 22000, Ratio: 0.5}},
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"steady 1000 events/s", "10,000/s", "25,000/s", "0.40 (bounded by the offered rate)",
		"1.50 / 2.25 / 12.5 / 150 ms", "31250 ms", "150.0 MB (first round: 180.0 MB)", "ingested events/s (64 clients)", "0.25", "100,000 retries pending", "0.95 of none pending",
		"1 endpoint(s) answering after 2s", "0.90 of all fast", "server figures: test",
		"3 rounds, alternately (above: the median)", "0.30–0.50", "round 1, peak RSS 180.0 MB", "9,000/s", "30,000/s", "round 3", "22,000/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestMedianRoundIsARoundMeasured(t *testing.T) {
	rd := func(perSecond, baseline float64) *round {
		return &round{baseline: &Baseline{PerSecond: baseline}, main: Phase{DeliveriesPerSecond: perSecond}}
	}
	rounds := []*round{rd(10, 20), rd(30, 40), rd(10, 50), rd(10, 40)} // ratios 0.5, 0.75, 0.2, 0.25
	if got := medianRound(rounds); got != rounds[3] {
		t.Fatalf("median of an even count: ratio %v, want the lower middle 0.25", got.headline())
	}
	if got := medianRound(rounds[:3]); got != rounds[0] {
		t.Fatalf("median of three: ratio %v, want 0.5", got.headline())
	}
	// With HTTP ingestion the rounds are ranked by ingestion's ratio, whatever the deliveries'.
	in := []*round{rd(10, 20), rd(10, 20), rd(10, 20)}
	for i, r := range []float64{900, 100, 500} {
		in[i].ingest, in[i].main.PublishedPerSecond = &Baseline{PerSecond: 1000}, r
	}
	if got := medianRound(in); got != in[2] || got.summary().Ratio != 0.5 || got.summary().BaselinePerSecond != 1000 {
		t.Fatalf("ingestion median %+v", got.summary())
	}
}

func TestProgressBarIsQuietOffTerminal(t *testing.T) {
	var b bytes.Buffer
	bar := NewProgressBar(&b)
	bar.Update(Progress{Stage: "deliveries", Done: 5, Total: 10, Elapsed: time.Second})
	bar.Finish()
	if b.Len() != 0 {
		t.Fatalf("drew %q", b.String())
	}
}

// TestRunInProcessEveryPhase runs the main phase, pending retries and a slow endpoint against an in-process
// engine, at a steady rate.
func TestRunInProcessEveryPhase(t *testing.T) {
	var progress []Progress
	res, err := Run(context.Background(), Options{Webhooks: 2, Events: 200, Payload: 100, Rate: 2000, PendingRetries: 30, PendingWait: time.Millisecond,
		SlowEndpoints: 1, SlowDelay: 20 * time.Millisecond, MaxInFlight: 16, MaxInFlightPerEndpoint: 4, Timeout: time.Minute,
		Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries != 400 || res.Concurrency != 8 || res.Mode != "rate" || res.Ratio <= 0 || res.Latency == nil || res.Server == nil {
		t.Fatalf("main phase %+v", res)
	}
	if p := res.PendingRetries; p == nil || p.Pending != 30 || p.Deliveries != 400 || p.Ratio <= 0 {
		t.Fatalf("pending retries %+v", p)
	}
	if is := res.Isolation; is == nil || is.Deliveries != 400 || is.Ratio <= 0 || is.SlowEndpoints != 1 {
		t.Fatalf("isolation %+v", is)
	}
	if len(progress) == 0 || progress[len(progress)-1].Done != progress[len(progress)-1].Total {
		t.Fatalf("progress %+v", progress)
	}
	if res.Rounds != nil {
		t.Fatalf("one round listed: %+v", res.Rounds)
	}
}

// gcTarget reads the process's GC target without setting it (0 where the runtime does not report it).
func gcTarget() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// TestRunRounds alternates the baseline and the main phase: every round is listed in order, each pair
// measured, and the top-level figures are the median round's. The engine's phases run at the engine's GC
// target, the raw baselines at the process's own, which the run leaves as it found it.
func TestRunRounds(t *testing.T) {
	before := gcTarget()
	if before == 0 {
		t.Fatal("the runtime does not report /gc/gogc:percent")
	}
	var mu sync.Mutex
	targets := map[string]map[uint64]bool{} // by stage: the GC targets its progress reports saw
	res, err := Run(context.Background(), Options{Webhooks: 2, Events: 100, Payload: 100, Rounds: 3, MaxInFlight: 16,
		MaxInFlightPerEndpoint: 4, Timeout: time.Minute, GCPercent: 35, Progress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			if targets[p.Stage] == nil {
				targets[p.Stage] = map[uint64]bool{}
			}
			targets[p.Stage][gcTarget()] = true
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.GCPercent != 35 {
		t.Errorf("result's GC target %d, want 35", res.GCPercent)
	}
	if got := gcTarget(); got != before {
		t.Errorf("GC target after the run %d, want %d as before it", got, before)
	}
	mu.Lock()
	want := map[string]map[uint64]bool{"raw HTTP baseline": {before: true}, "deliveries": {35: true}}
	if !maps.EqualFunc(targets, want, maps.Equal) {
		t.Errorf("GC targets by stage %v, want %v", targets, want)
	}
	mu.Unlock()
	if len(res.Rounds) != 3 {
		t.Fatalf("rounds %+v", res.Rounds)
	}
	ratios := make([]float64, 0, 3)
	for i, rd := range res.Rounds {
		if rd.PerSecond <= 0 || rd.BaselinePerSecond <= 0 || rd.Ratio != rd.PerSecond/rd.BaselinePerSecond || rd.PeakRSSBytes <= 0 {
			t.Fatalf("round %d: %+v", i+1, rd)
		}
		ratios = append(ratios, rd.Ratio)
	}
	slices.Sort(ratios)
	if res.Ratio != ratios[1] || res.Deliveries != 200 || res.Ratio != res.DeliveriesPerSecond/res.Baseline.PerSecond {
		t.Fatalf("top level: ratio %v (rounds %v), deliveries %d", res.Ratio, ratios, res.Deliveries)
	}
}

// TestRunAgainstARunningEngine targets an engine through its API and NATS with a token of one tenant: the
// bench finds the tenant, ingests over HTTP too, and deletes its webhooks at the end.
func TestRunAgainstARunningEngine(t *testing.T) {
	const admin = "adm_bench_test_token_0123"
	cfg := testConfig(t, admin)
	cfg.AllowPrivateDestinations, cfg.DeliveryTimeout = true, 5*time.Second
	cfg.MaxInFlight, cfg.MaxInFlightPerEndpoint = 32, 8
	e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	base := "http://" + e.HTTPAddr()
	tenant := tenantFor(99)
	admin2 := &target{http: base, token: admin, client: http.DefaultClient}
	data, err := admin2.do(context.Background(), http.MethodPost, "/admin/tokens", map[string]any{"name": "bench", "tenants": []string{tenant},
		"permissions": []string{"webhooks.write", "webhooks.read", "webhooks.list", "events.write"}}, http.StatusCreated)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil {
		t.Fatal(err)
	}

	o := Options{HTTP: base, NATS: e.NATSURL(), Token: tok.Token, Webhooks: 2, Events: 150, MaxInFlight: 32, MaxInFlightPerEndpoint: 8}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tenant != tenant || res.Engine != base || res.Deliveries != 300 || res.Ratio <= 0 || res.Concurrency != 16 {
		t.Fatalf("%+v", res)
	}
	if s := res.Server; s == nil || s.PeakRSSBytes <= 0 || !strings.Contains(s.Source, "/metrics") {
		t.Fatalf("server %+v", s)
	}

	o.IngestHTTP, o.Webhooks = true, 1
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if in := res.Ingest; in == nil || in.Events != 150 || in.Ratio <= 0 || in.Baseline.Concurrency != DefaultIngestClients || res.Deliveries != 150 {
		t.Fatalf("ingest %+v, deliveries %d", in, res.Deliveries)
	}

	// Every webhook the runs created is gone.
	list, err := admin2.do(context.Background(), http.MethodGet, "/event/"+tenant+"/webhooks/list?count=100", nil, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(list, &page); err != nil || len(page.Items) != 0 {
		t.Fatalf("left behind: %s (%v)", list, err)
	}

	// The admin token serves every tenant: it must name one.
	o.Token, o.IngestHTTP = admin, false
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--tenant") {
		t.Fatalf("admin without --tenant: %v", err)
	}
}

// TestDuplicateWindowIsTheStreamsLongest checks that the wait after a fill is the longest window the engine's
// streams keep message ids for. The engine's events, webhooks and tokens keep theirs 3 minutes; with a 60 s
// delivery timeout its task streams keep theirs longer, so the first stream's window, or the events', is
// not the answer.
func TestDuplicateWindowIsTheStreamsLongest(t *testing.T) {
	cfg := testConfig(t, "adm_bench_test_token_0123")
	cfg.DeliveryTimeout, cfg.DuplicateWindow = time.Minute, 3*time.Minute
	cfg.MaxInFlight, cfg.MaxInFlightPerEndpoint = 8, 2
	e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	want := delivery.TaskWindow(time.Minute)
	if want <= cfg.DuplicateWindow {
		t.Fatalf("task window %s: the test needs it longer than the duplicate window %s", want, cfg.DuplicateWindow)
	}
	got, err := (&target{nats: e.NATSURL(), prefix: cfg.SubjectPrefix}).duplicateWindow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("window %s, want the task window %s", got, want)
	}
}

// testConfig returns serve's defaults on free loopback ports in a temp folder, logging warnings only.
func testConfig(t *testing.T, admin string) *config.Config {
	c := config.Default()
	c.HTTP, c.NATSListen, c.Data = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	c.DuplicateWindow, c.LogLevel, c.AdminToken = time.Minute, "warn", admin
	return c
}

// TestRunForwarderAndBatchIngest runs the bare forwarder beside the engine in every round, then ingests in
// batches over HTTP.
func TestRunForwarderAndBatchIngest(t *testing.T) {
	res, err := Run(context.Background(), Options{Webhooks: 2, Events: 120, Payload: 100, Rounds: 2, MaxInFlight: 16,
		MaxInFlightPerEndpoint: 4, Timeout: time.Minute, Forwarder: true})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Forwarder
	if f == nil || f.Requests != 240 || f.PerSecond <= 0 || f.Ratio != res.DeliveriesPerSecond/f.PerSecond || f.Concurrency != 8 {
		t.Fatalf("forwarder %+v", f)
	}
	for i, rd := range res.Rounds {
		if rd.ForwarderPerSecond <= 0 {
			t.Fatalf("round %d without the forwarder: %+v", i+1, rd)
		}
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil || !strings.Contains(table.String(), "bare forwarder") {
		t.Fatalf("table %v:\n%s", err, table.String())
	}

	res, err = Run(context.Background(), Options{Webhooks: 1, Events: 250, Payload: 100, Rounds: 1, MaxInFlight: 16,
		MaxInFlightPerEndpoint: 4, Timeout: time.Minute, IngestBatch: 100})
	if err != nil {
		t.Fatal(err)
	}
	if in := res.Ingest; in == nil || in.Batch != 100 || in.Events != 250 || in.PerSecond <= 0 || res.Deliveries != 250 {
		t.Fatalf("batch ingest %+v, deliveries %d", in, res.Deliveries)
	}
}
