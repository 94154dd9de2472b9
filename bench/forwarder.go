package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The bare forwarder's stream and subject, on the engine's server, apart from the engine's own.
const (
	forwarderStream  = "HOOKSTREAM_BENCH_FORWARDER"
	forwarderSubject = "hookstream-bench.forward"
)

// forward measures the bare forwarder, the second baseline: the phase's events published to a JetStream
// stream of their own on the engine's server, taken by a durable pull consumer, each POSTed once to every
// webhook's endpoint at the engine's concurrency and per-endpoint limit, and acked once every POST is
// answered; nothing is recorded. What the engine does beyond it (routing, views, outcomes, retries) is the
// difference between the two.
func (r *runner) forward(ctx context.Context, spec *baselineSpec) (*Baseline, error) {
	defer r.t.withGoGC()()
	nc, err := r.t.connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: forwarderStream, Subjects: []string{forwarderSubject},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		return nil, fmt.Errorf("forwarder stream: %w", err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), forwarderStream) }()
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "forwarder", AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: 4 * spec.concurrency, AckWait: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("forwarder consumer: %w", err)
	}

	n := r.o.Events
	base := r.next(n)
	r.rc.phase.Store(newPhase(base, n, len(spec.urls)))
	total := int64(n) * int64(len(spec.urls))
	var done atomic.Int64
	stop := r.watch("bare forwarder", total, done.Load)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: spec.perHost, MaxConnsPerHost: spec.perHost}}
	defer client.CloseIdleConnections()
	type post struct {
		msg  jetstream.Msg
		url  string
		left *atomic.Int32
	}
	posts := make(chan post, spec.concurrency)
	var feeding sync.RWMutex // held by the consumer's callback while it feeds posts, so posts closes after it
	var firstErr atomic.Pointer[error]
	fail := func(err error) {
		if firstErr.CompareAndSwap(nil, &err) {
			cancel()
		}
	}
	var wg sync.WaitGroup
	for range spec.concurrency {
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("bench", "forwarder"), func(ctx context.Context) {
				for p := range posts {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.msg.Data()))
					req.Header = spec.header.Clone()
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("forwarder POST %s: status %d", p.url, resp.StatusCode)
						}
					}
					if err != nil {
						fail(err)
						continue
					}
					done.Add(1)
					if p.left.Add(-1) == 0 {
						if err := p.msg.Ack(); err != nil {
							fail(fmt.Errorf("forwarder ack: %w", err))
						}
					}
				}
			})
		})
	}
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		feeding.RLock()
		defer feeding.RUnlock()
		if ctx.Err() != nil {
			return
		}
		left := &atomic.Int32{}
		left.Store(int32(len(spec.urls)))
		for _, u := range spec.urls {
			select {
			case posts <- post{msg: m, url: u, left: left}:
			case <-ctx.Done():
				return
			}
		}
	}, jetstream.PullMaxMessages(2*spec.concurrency))
	if err != nil {
		close(posts)
		wg.Wait()
		return nil, fmt.Errorf("forwarder consume: %w", err)
	}
	for i := range n {
		if _, err := js.PublishAsync(forwarderSubject, spec.tmpl.build(base+i, time.Now().UnixNano()), jetstream.WithStallWait(time.Minute)); err != nil {
			fail(fmt.Errorf("forwarder publish: %w", err))
			break
		}
	}
	tick := time.NewTicker(time.Millisecond)
	for done.Load() < total && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	timedOut := ctx.Err() != nil
	cancel()
	cc.Stop()
	feeding.Lock()
	close(posts)
	feeding.Unlock()
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return nil, *err
	}
	if timedOut || done.Load() < total {
		return nil, errors.New("bare forwarder: timed out before every event was forwarded")
	}
	return &Baseline{Requests: total, Concurrency: spec.concurrency, Seconds: elapsed.Seconds(), PerSecond: rate(total, elapsed)}, nil
}
