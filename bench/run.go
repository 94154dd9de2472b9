package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run measures the engine as o says and returns what it found. It cleans up after itself: the in-process
// engine and its data folder are removed; on a running engine, the webhooks it created are deleted.
func Run(ctx context.Context, o Options) (_ *Result, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	rc := newReceiver(o.SlowDelay)
	defer rc.close()
	t, err := startTarget(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := t.close(stopCtx); cerr != nil && err == nil {
			err = fmt.Errorf("clean up: %w", cerr)
		}
	}()
	r := &runner{o: o, t: t, rc: rc, payload: newPayload(o.Payload, o.Seed)}
	return r.run(ctx)
}

// runner carries one run.
type runner struct {
	o       Options
	t       *target
	rc      *receiver
	payload *payload
	pub     publisher
	fast    []string // fast endpoints' URLs; the first Webhooks have webhooks
	nextSeq int
}

// next reserves n event sequence numbers for a stage.
func (r *runner) next(n int) int {
	base := r.nextSeq
	r.nextSeq += n
	return base
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	o := &r.o
	for range max(o.Webhooks, 1) { // at least one: the probe and the ingestion baseline need an endpoint
		u, err := r.rc.add(fastEndpoint)
		if err != nil {
			return nil, err
		}
		r.fast = append(r.fast, u)
	}
	if r.t.tenant == "" {
		if err := r.t.discoverTenant(ctx, strings.TrimSuffix(r.fast[0], "/hook")+"/probe", r.rc.probe); err != nil {
			return nil, err
		}
	}
	for i := range o.Webhooks {
		if _, err := r.t.createWebhook(ctx, fmt.Sprintf("bench-%d", i), r.fast[i], EventType, nil); err != nil {
			return nil, err
		}
	}
	res := &Result{
		Engine: "in-process", Ingestion: "nats", Mode: "burst", Rate: o.Rate, Webhooks: o.Webhooks, Events: o.Events,
		PayloadBytes: o.Payload, MaxInFlight: o.MaxInFlight, MaxInFlightPerEndpoint: o.MaxInFlightPerEndpoint,
		Concurrency: min(o.MaxInFlightPerEndpoint*o.Webhooks, o.MaxInFlight), Seed: o.Seed, Tenant: r.t.tenant,
		GCPercent: r.t.gcPercent,
	}
	if r.t.child != nil {
		res.Engine = "spawned: " + r.o.Spawn + " serve (pid " + strconv.Itoa(r.t.child.pid()) + ")"
	} else if !r.t.inProcess() {
		res.Engine = r.t.http
	}
	if o.Rate > 0 {
		res.Mode = "rate"
	}

	// What each round needs, prepared once: the baselines' bodies and the publisher.
	var delivery, ingest *baselineSpec
	if o.Webhooks > 0 {
		tmpl, err := deliveryTemplate(r.payload, r.t.tenant)
		if err != nil {
			return nil, err
		}
		delivery = &baselineSpec{urls: r.fast[:o.Webhooks], tmpl: tmpl, header: deliveryHeaders(), concurrency: res.Concurrency,
			perHost: o.MaxInFlightPerEndpoint}
	}
	if o.IngestHTTP {
		res.Ingestion = "http"
		tmpl, err := r.payload.wrap(ingestBody(EventType, r.payload.template))
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Authorization", "Bearer "+strings.Repeat("x", len(r.t.token)))
		ingest = &baselineSpec{urls: r.fast[:1], tmpl: tmpl, header: h, concurrency: o.IngestClients, perHost: o.IngestClients}
		r.pub = newHTTPPublisher(r.t, o.IngestClients, o.IngestBatch, r.payload)
	} else {
		var err error
		if r.pub, err = newNATSPublisher(r.t, r.payload); err != nil {
			return nil, err
		}
	}
	defer r.pub.close()

	rounds := make([]*round, 0, o.Rounds)
	for i := range o.Rounds {
		if i > 0 {
			// The next baseline runs on an idle engine, as the first did, not beside the views catching up.
			if err := r.settle(ctx); err != nil {
				return nil, fmt.Errorf("round %d: engine did not settle: %w", i+1, err)
			}
		}
		rd, err := r.round(ctx, delivery, ingest, i == o.Rounds-1)
		if err != nil {
			return nil, err
		}
		rounds = append(rounds, rd)
	}
	med := medianRound(rounds)
	res.Phase, res.Baseline, res.Ratio = med.main, med.baseline, med.deliveryRatio()
	if med.ingest != nil {
		res.Ingest = &Ingest{Events: o.Events, Clients: o.IngestClients, Batch: max(o.IngestBatch, 1), Baseline: med.ingest, Seconds: med.main.PublishSeconds,
			PerSecond: med.main.PublishedPerSecond, Ratio: med.ingestRatio()}
	}
	if med.forwarder != nil {
		res.Forwarder = &Forwarder{Baseline: med.forwarder, Ratio: ratio(med.main.DeliveriesPerSecond, med.forwarder.PerSecond)}
	}
	if len(rounds) > 1 {
		for _, rd := range rounds {
			res.Rounds = append(res.Rounds, rd.summary())
		}
	}
	// The optional phases compare with the main phase run just before them: the machine is likeliest to be
	// in the same state.
	main := rounds[len(rounds)-1].main
	var err error
	if o.PendingRetries > 0 {
		if res.PendingRetries, err = r.pendingRetries(ctx, main); err != nil {
			return nil, err
		}
	}
	if o.SlowEndpoints > 0 {
		if res.Isolation, err = r.isolation(ctx, main); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// baselineSpec is what a raw HTTP baseline POSTs, where, and how many at once.
type baselineSpec struct {
	urls                 []string
	tmpl                 *payload
	header               http.Header
	concurrency, perHost int
}

// round is one alternation of the raw HTTP baselines and the main phase (Options.Rounds).
type round struct {
	baseline, ingest *Baseline // nil without webhooks, and without IngestHTTP
	forwarder        *Baseline // the bare forwarder (Options.Forwarder)
	main             Phase
}

// round runs the baselines, while the engine is idle, then the main phase, profiled when asked and last.
func (r *runner) round(ctx context.Context, delivery, ingest *baselineSpec, last bool) (*round, error) {
	rd := &round{}
	var err error
	if delivery != nil {
		if rd.baseline, err = r.baseline(ctx, "raw HTTP baseline", delivery); err != nil {
			return nil, err
		}
	}
	if ingest != nil {
		if rd.ingest, err = r.baseline(ctx, "raw HTTP baseline", ingest); err != nil {
			return nil, err
		}
	}
	if r.o.Forwarder && delivery != nil {
		if rd.forwarder, err = r.forward(ctx, delivery); err != nil {
			return nil, err
		}
	}
	profile := last && r.o.CPUProfile != nil && r.o.PendingRetries == 0
	if profile {
		if err := pprof.StartCPUProfile(r.o.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	m := r.startMeter(ctx)
	rd.main, err = r.phase(ctx, "deliveries", r.o.Webhooks)
	if profile {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	rd.main.Server = m.stop(ctx, rd.main.Deliveries, int64(r.o.Events))
	return rd, nil
}

func (rd *round) deliveryRatio() float64 {
	if rd.baseline == nil {
		return 0
	}
	return ratio(rd.main.DeliveriesPerSecond, rd.baseline.PerSecond)
}

func (rd *round) ingestRatio() float64 {
	if rd.ingest == nil {
		return 0
	}
	return ratio(rd.main.PublishedPerSecond, rd.ingest.PerSecond)
}

// headline is the ratio a run is about: ingestion's with IngestHTTP, the deliveries' otherwise.
func (rd *round) headline() float64 {
	if rd.ingest != nil {
		return rd.ingestRatio()
	}
	return rd.deliveryRatio()
}

func (rd *round) summary() Round {
	s := Round{Ratio: rd.headline(), PerSecond: rd.main.DeliveriesPerSecond}
	b := rd.baseline
	if rd.ingest != nil {
		s.PerSecond, b = rd.main.PublishedPerSecond, rd.ingest
	}
	if b != nil {
		s.BaselinePerSecond = b.PerSecond
	}
	if rd.forwarder != nil {
		s.ForwarderPerSecond = rd.forwarder.PerSecond
	}
	if rd.main.Latency != nil {
		s.P99Ms = rd.main.Latency.P99
	}
	if rd.main.Server != nil {
		s.PeakRSSBytes = rd.main.Server.PeakRSSBytes
	}
	return s
}

// medianRound returns the round whose headline ratio is the median (the lower of the middle two for an even
// count): a round that was measured, not an average of rounds.
func medianRound(rounds []*round) *round {
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b *round) int { return cmp.Compare(a.headline(), b.headline()) })
	return sorted[(len(sorted)-1)/2]
}

// baseline POSTs the spec's bodies to its urls (Events each) straight from this process.
func (r *runner) baseline(ctx context.Context, stage string, spec *baselineSpec) (*Baseline, error) {
	defer r.t.withGoGC()()
	base := r.next(r.o.Events)
	r.rc.phase.Store(newPhase(base, r.o.Events, len(spec.urls)))
	var done atomic.Int64
	total := int64(r.o.Events) * int64(len(spec.urls))
	stop := r.watch(stage, total, done.Load)
	defer stop()
	var elapsed time.Duration
	var err error
	pprof.Do(ctx, pprof.Labels("bench", "publisher"), func(ctx context.Context) {
		elapsed, err = rawPosts(ctx, spec.urls, spec.tmpl, spec.header, base, r.o.Events, spec.concurrency, spec.perHost, &done)
	})
	if err != nil {
		return nil, err
	}
	return &Baseline{Requests: total, Concurrency: spec.concurrency, Seconds: elapsed.Seconds(), PerSecond: rate(total, elapsed)}, nil
}

// phase publishes Events events and waits until each of the first `endpoints` fast endpoints has received
// every one of them.
func (r *runner) phase(ctx context.Context, stage string, endpoints int) (Phase, error) {
	o := &r.o
	base := r.next(o.Events)
	ph := newPhase(base, o.Events, endpoints)
	r.rc.phase.Store(ph)
	var c counters
	total, progress := ph.target, ph.delivered.Load
	if endpoints == 0 {
		total, progress = int64(o.Events), c.published.Load
	}
	stop := r.watch(stage, total, progress)
	defer stop()

	limit := o.Timeout
	if o.Rate > 0 {
		limit += time.Duration(float64(o.Events) / o.Rate * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	ph.start(start)
	type outcome struct {
		err     error
		elapsed time.Duration
	}
	pubDone := make(chan outcome, 1)
	go pprof.Do(ctx, pprof.Labels("bench", "publisher"), func(ctx context.Context) {
		err := r.pub.publish(ctx, EventType, base, o.Events, o.Rate, &c)
		pubDone <- outcome{err, time.Since(start)}
	})
	var pub *outcome
	delivered := ph.done
	for pub == nil || delivered != nil {
		select {
		case out := <-pubDone:
			if out.err != nil {
				return Phase{}, fmt.Errorf("%s: %w", stage, out.err)
			}
			pub = &out
		case <-delivered:
			delivered = nil
		case <-ctx.Done():
			return Phase{}, fmt.Errorf("%s: %s of %s deliveries and %s of %s events acknowledged after %s: %w", stage,
				formatCount(ph.delivered.Load()), formatCount(ph.target), formatCount(c.published.Load()), formatCount(int64(o.Events)),
				time.Since(start).Round(time.Millisecond), ctx.Err())
		}
	}
	p := Phase{Deliveries: ph.delivered.Load(), Duplicates: ph.duplicates.Load(), PublishSeconds: pub.elapsed.Seconds(),
		PublishedPerSecond: rate(int64(o.Events), pub.elapsed), PublishRetries: c.retried.Load()}
	elapsed := pub.elapsed
	if endpoints > 0 {
		elapsed = time.Unix(0, ph.last.Load()).Sub(start)
		p.Latency = latencyOf(ph.latenciesDone())
		p.LongestPauseMs = float64(ph.gap.Load()) / 1e6
	}
	p.Seconds = elapsed.Seconds()
	p.DeliveriesPerSecond = rate(p.Deliveries, elapsed)
	return p, nil
}

// maxPendingWait bounds the default wait after the fill.
const maxPendingWait = 10 * time.Minute

// pendingRetries fills the retries stream with PendingRetries retries due in 24 hours (a failing webhook's
// first tries, each answered 503), then runs the main phase again.
func (r *runner) pendingRetries(ctx context.Context, main Phase) (*PendingRetries, error) {
	o := &r.o
	url, err := r.rc.add(failEndpoint)
	if err != nil {
		return nil, err
	}
	if _, err := r.t.createWebhook(ctx, "bench-failing", url, failEventType, map[string]any{
		"triggers":      []string{"5xx"},
		"retryStrategy": map[string]any{"type": "linear", "interval": 86400, "attempts": 1},
	}); err != nil {
		return nil, err
	}
	before, err := r.t.metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("pending retries: %w", err)
	}
	var scheduled atomic.Int64
	stop := r.watch("filling retries", int64(o.PendingRetries), scheduled.Load)
	start := time.Now()
	// A large fill takes minutes: the bound grows with the fill (1 ms per retry) on top of the phase timeout,
	// so it stops a stuck engine, not a large fill.
	fillCtx, cancel := context.WithTimeout(ctx, o.Timeout+time.Duration(o.PendingRetries)*time.Millisecond)
	defer cancel()
	var c counters
	pubErr := make(chan error, 1)
	go pprof.Do(fillCtx, pprof.Labels("bench", "publisher"), func(ctx context.Context) {
		pubErr <- r.pub.publish(ctx, failEventType, r.next(o.PendingRetries), o.PendingRetries, 0, &c)
	})
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for scheduled.Load() < int64(o.PendingRetries) {
		select {
		case err := <-pubErr:
			if err != nil {
				stop()
				return nil, fmt.Errorf("pending retries: %w", err)
			}
		case <-tick.C:
			m, err := r.t.metrics(fillCtx)
			if err == nil {
				scheduled.Store(int64(m[metricRetryScheduled] - before[metricRetryScheduled]))
			}
		case <-fillCtx.Done():
			stop()
			return nil, fmt.Errorf("pending retries: %s of %s scheduled after %s: %w", formatCount(scheduled.Load()),
				formatCount(int64(o.PendingRetries)), time.Since(start).Round(time.Millisecond), fillCtx.Err())
		}
	}
	stop()
	fill := time.Since(start)
	// The fill leaves work behind (views catching up on millions of records, events still being routed): the
	// phase measures fresh deliveries beside retries that wait, not beside that backlog.
	settleStart := time.Now()
	if err := r.settle(fillCtx); err != nil {
		return nil, fmt.Errorf("pending retries: engine did not settle after the fill: %w", err)
	}
	settled := time.Since(settleStart)
	wait := o.PendingWait
	if wait == 0 {
		if wait, err = r.t.duplicateWindow(fillCtx); err != nil {
			return nil, fmt.Errorf("pending retries: %w", err)
		}
		// A day-long idempotency window is the user's choice to hold ids that long, not a bench's to wait.
		wait = min(wait, maxPendingWait)
	}
	waitStart := time.Now()
	waitStop := r.watch("waiting out the duplicate windows (s)", int64(wait/time.Second), func() int64 {
		return int64(min(time.Since(waitStart), wait) / time.Second)
	})
	select {
	case <-ctx.Done():
		waitStop()
		return nil, ctx.Err()
	case <-time.After(wait):
	}
	waitStop()
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	m := r.startMeter(ctx)
	p, err := r.phase(ctx, "deliveries, retries pending", o.Webhooks)
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	p.Server = m.stop(ctx, p.Deliveries, int64(o.Events))
	return &PendingRetries{Pending: o.PendingRetries, FillSeconds: fill.Seconds(), SettleSeconds: settled.Seconds(), WaitSeconds: wait.Seconds(), Phase: p,
		Ratio: ratio(p.DeliveriesPerSecond, main.DeliveriesPerSecond)}, nil
}

// settle waits until the engine is idle: every view has applied its stream and the router has routed every
// event and seen its tasks done.
func (r *runner) settle(ctx context.Context) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	quiet := 0
	for quiet < 2 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		m, err := r.t.metrics(ctx)
		if err != nil {
			return err
		}
		busy := m[metricRouterPending] + m[metricRouterAcks]
		for k, v := range m {
			if strings.HasPrefix(k, metricViewLagPrefix) {
				busy += v
			}
		}
		if busy == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return nil
}

// isolation adds SlowEndpoints webhooks whose endpoints answer after SlowDelay, then runs the main phase
// again: the fast endpoints' rate against the main phase's says how well one slow endpoint is contained.
func (r *runner) isolation(ctx context.Context, main Phase) (*Isolation, error) {
	o := &r.o
	for i := range o.SlowEndpoints {
		url, err := r.rc.add(slowEndpoint)
		if err != nil {
			return nil, err
		}
		if _, err := r.t.createWebhook(ctx, fmt.Sprintf("bench-slow-%d", i), url, EventType, nil); err != nil {
			return nil, err
		}
	}
	before := r.rc.slowHits.Load()
	m := r.startMeter(ctx)
	p, err := r.phase(ctx, "deliveries, slow endpoints", o.Webhooks)
	if err != nil {
		return nil, err
	}
	p.Server = m.stop(ctx, p.Deliveries, int64(o.Events))
	return &Isolation{SlowEndpoints: o.SlowEndpoints, SlowDelayMs: float64(o.SlowDelay) / 1e6, SlowDelivered: r.rc.slowHits.Load() - before,
		Phase: p, Ratio: ratio(p.DeliveriesPerSecond, main.DeliveriesPerSecond)}, nil
}

// watch reports a stage's progress about ten times a second until the returned stop is called (stop may be
// called more than once).
func (r *runner) watch(stage string, total int64, done func() int64) (stop func()) {
	report := r.o.Progress
	if report == nil {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		pprof.Do(context.Background(), pprof.Labels("bench", "progress"), func(context.Context) {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					report(Progress{Stage: stage, Done: done(), Total: total, Elapsed: time.Since(start)})
				case <-quit:
					report(Progress{Stage: stage, Done: done(), Total: total, Elapsed: time.Since(start)})
					return
				}
			}
		})
	})
	var once sync.Once
	return func() { once.Do(func() { close(quit); wg.Wait() }) }
}

// meter measures the server's resources over a phase.
type meter interface {
	// stop returns the usage since the meter started (nil when it cannot be measured); per is the number of
	// deliveries (events, when zero) the CPU time is divided by.
	stop(ctx context.Context, deliveries, events int64) *ServerUsage
}

func (r *runner) startMeter(ctx context.Context) meter {
	if r.t.inProcess() {
		m := &procMeter{}
		m.resetErr = resetPeakRSS()
		m.cpu0, m.cpuErr = cpuTime()
		return m
	}
	m := &scrapeMeter{t: r.t, quit: make(chan struct{})}
	if r.t.child != nil {
		m.pid = r.t.child.pid()
		m.resetErr = resetPeakRSSOf(strconv.Itoa(m.pid))
	}
	if s, err := r.t.metrics(ctx); err == nil {
		m.cpu0, m.peak = s[metricCPU], s[metricRSS]
	} else {
		m.err = err
	}
	m.wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if s, err := r.t.metrics(ctx); err == nil {
					m.mu.Lock()
					m.peak = max(m.peak, s[metricRSS])
					m.mu.Unlock()
				}
			case <-m.quit:
				return
			}
		}
	})
	return m
}

// procMeter reads this process's peak RSS (reset at the start) and CPU time: the in-process engine's, with
// the bench's publisher and receiver, which share the process.
type procMeter struct {
	resetErr error
	cpu0     time.Duration
	cpuErr   error
}

func (m *procMeter) stop(_ context.Context, deliveries, events int64) *ServerUsage {
	peak, err := peakRSS()
	cpu, cerr := cpuTime()
	if err = errors.Join(err, cerr, m.cpuErr); err != nil {
		return &ServerUsage{Source: "unavailable: " + err.Error()}
	}
	u := &ServerUsage{PeakRSSBytes: peak, CPUSeconds: (cpu - m.cpu0).Seconds(),
		Source: "in-process: this process's VmHWM and getrusage, which include the bench's publisher and receiver"}
	if m.resetErr != nil {
		u.Source += "; the peak is since the process started (VmHWM could not be reset: " + m.resetErr.Error() + ")"
	}
	u.CPUMicrosPerDelivery = perItem(u.CPUSeconds, deliveries, events)
	return u
}

// scrapeMeter samples a running engine's /metrics: process_resident_memory_bytes every 250 ms (the peak of
// the samples) and process_cpu_seconds_total at both ends.
type scrapeMeter struct {
	t *target
	// pid, when set, is a spawned engine's: its peak is its VmHWM, reset at the start, not the samples'.
	pid      int
	resetErr error

	quit chan struct{}
	wg   sync.WaitGroup
	cpu0 float64
	err  error

	mu   sync.Mutex
	peak float64
}

func (m *scrapeMeter) stop(ctx context.Context, deliveries, events int64) *ServerUsage {
	close(m.quit)
	m.wg.Wait()
	s, err := m.t.metrics(ctx)
	if err = errors.Join(m.err, err); err != nil {
		return &ServerUsage{Source: "unavailable: " + err.Error()}
	}
	m.mu.Lock()
	peak := max(m.peak, s[metricRSS])
	m.mu.Unlock()
	u := &ServerUsage{PeakRSSBytes: int64(peak), CPUSeconds: s[metricCPU] - m.cpu0,
		Source: "the engine's /metrics: process_resident_memory_bytes sampled every 250 ms, process_cpu_seconds_total"}
	if m.pid != 0 {
		if hwm, err := peakRSSOf(strconv.Itoa(m.pid)); err == nil && m.resetErr == nil {
			u.PeakRSSBytes = hwm
			u.Source = "the spawned serve's VmHWM (/proc, reset at the phase's start) and its process_cpu_seconds_total"
		}
	}
	u.CPUMicrosPerDelivery = perItem(u.CPUSeconds, deliveries, events)
	return u
}

func perItem(seconds float64, deliveries, events int64) float64 {
	n := deliveries
	if n == 0 {
		n = events
	}
	if n == 0 {
		return 0
	}
	return seconds * 1e6 / float64(n)
}
