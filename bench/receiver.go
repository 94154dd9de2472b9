package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// endpointKind says how one of the receiver's endpoints answers.
type endpointKind int

const (
	fastEndpoint endpointKind = iota // 200 at once; deliveries counted and timed
	slowEndpoint                     // 200 after the slow delay
	failEndpoint                     // 503 at once (fills the retries stream)
)

// receiver is the loopback endpoint every delivery and every baseline POST goes to. Each endpoint has its own
// listener on 127.0.0.1, as distinct webhooks usually have distinct hosts: a client's per-host connection
// limit applies to each endpoint apart, for the engine and for the baseline alike.
type receiver struct {
	slowDelay time.Duration
	closing   chan struct{}
	probe     chan string
	bufs      sync.Pool

	phase    atomic.Pointer[phase]
	slowHits atomic.Int64
	failHits atomic.Int64

	mu      sync.Mutex
	servers []*http.Server
	fast    int
}

func newReceiver(slowDelay time.Duration) *receiver {
	return &receiver{slowDelay: slowDelay, closing: make(chan struct{}), probe: make(chan string, 1),
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// add starts an endpoint of kind and returns its URL.
func (rc *receiver) add(kind endpointKind) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("receiver: %w", err)
	}
	rc.mu.Lock()
	index := -1
	if kind == fastEndpoint {
		index = rc.fast
		rc.fast++
	}
	srv := &http.Server{Handler: rc.handler(kind, index), ReadHeaderTimeout: 10 * time.Second}
	rc.servers = append(rc.servers, srv)
	rc.mu.Unlock()
	go pprof.Do(context.Background(), pprof.Labels("bench", "receiver"), func(context.Context) { _ = srv.Serve(l) })
	return "http://" + l.Addr().String() + "/hook", nil
}

// close stops every endpoint at once (requests in progress are cut).
func (rc *receiver) close() {
	close(rc.closing)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.servers {
		_ = s.Close()
	}
}

func (rc *receiver) handler(kind endpointKind, index int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := rc.bufs.Get().(*bytes.Buffer)
		defer rc.bufs.Put(buf)
		buf.Reset()
		_, _ = buf.ReadFrom(r.Body)
		at := time.Now()
		if r.URL.Path == "/probe" {
			var e struct {
				Tenant string `json:"tenantLocator"`
			}
			if json.Unmarshal(buf.Bytes(), &e) == nil && e.Tenant != "" {
				select {
				case rc.probe <- e.Tenant:
				default:
				}
			}
			return
		}
		switch kind {
		case fastEndpoint:
			if seq, sent, ok := parseStamp(buf.Bytes()); ok {
				if p := rc.phase.Load(); p != nil {
					p.record(index, seq, sent, at)
				}
			}
		case slowEndpoint:
			select {
			case <-time.After(rc.slowDelay):
			case <-rc.closing:
			case <-r.Context().Done():
			}
			rc.slowHits.Add(1)
		case failEndpoint:
			rc.failHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
}

// phase counts the deliveries of one stage: events base … base+events-1 to each of `endpoints` fast
// endpoints, each pair once, with the latency of its first receipt.
type phase struct {
	base, events int
	target       int64
	seen         [][]atomic.Uint64 // per endpoint, a bit per event
	delivered    atomic.Int64      // pairs received (first receipts)
	recorded     atomic.Int64      // pairs whose latency is written: done closes when it reaches target
	duplicates   atomic.Int64
	latencies    []int64 // nanoseconds, in receipt order; the first `delivered` are set
	done         chan struct{}
	last         atomic.Int64 // Unix nanoseconds of the receipt that completed the target
	// prev is the Unix nanoseconds of the latest first receipt (of the start, before any); gap the longest
	// time between two: a stall shows here even when the average rate hides it.
	prev atomic.Int64
	gap  atomic.Int64
}

// start marks the moment the stage began publishing: the first gap runs from there.
func (p *phase) start(at time.Time) { p.prev.Store(at.UnixNano()) }

func newPhase(base, events, endpoints int) *phase {
	p := &phase{base: base, events: events, target: int64(events) * int64(endpoints), done: make(chan struct{}),
		seen: make([][]atomic.Uint64, endpoints), latencies: make([]int64, int64(events)*int64(endpoints))}
	for i := range p.seen {
		p.seen[i] = make([]atomic.Uint64, (events+63)/64)
	}
	if p.target == 0 {
		close(p.done)
	}
	return p
}

func (p *phase) record(endpoint, seq int, sent int64, at time.Time) {
	i := seq - p.base
	if endpoint < 0 || endpoint >= len(p.seen) || i < 0 || i >= p.events {
		return // another stage's late delivery
	}
	bit := uint64(1) << (i % 64)
	if p.seen[endpoint][i/64].Or(bit)&bit != 0 {
		p.duplicates.Add(1)
		return
	}
	n := p.delivered.Add(1)
	p.latencies[n-1] = at.UnixNano() - sent
	if prev := p.prev.Swap(at.UnixNano()); prev > 0 {
		for d := at.UnixNano() - prev; ; {
			g := p.gap.Load()
			if d <= g || p.gap.CompareAndSwap(g, d) {
				break
			}
		}
	}
	if p.recorded.Add(1) == p.target {
		p.last.Store(at.UnixNano())
		close(p.done)
	}
}

// latenciesDone returns every latency; call it only once done is closed.
func (p *phase) latenciesDone() []int64 {
	out := make([]int64, len(p.latencies))
	copy(out, p.latencies)
	return out
}
