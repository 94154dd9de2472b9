package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publisher ingests events base … base+n-1 of one type, at rate events/s (0: as fast as it can), counting
// them as they are accepted.
type publisher interface {
	publish(ctx context.Context, eventType string, base, n int, rate float64, c *counters) error
	close()
}

// counters count a stage's publications: accepted, and refused for now by the server (429) and sent again.
type counters struct {
	published atomic.Int64
	retried   atomic.Int64
}

// pace waits until event i of a steady rate is due (at once for a burst).
func pace(ctx context.Context, start time.Time, i int, rate float64) error {
	if rate <= 0 {
		return ctx.Err()
	}
	due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

// natsPublisher publishes events to <prefix>.events.<tenant>.<type> with JetStream's asynchronous publish: the
// publish ack is the engine's durability promise, and an event counts once acknowledged.
type natsPublisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	prefix  string
	tenant  string
	payload *payload
}

func newNATSPublisher(t *target, p *payload) (*natsPublisher, error) {
	nc, err := t.connect()
	if err != nil {
		return nil, err
	}
	// At most 4,096 publications, and 64 MiB, in flight: large payloads would otherwise fill the server's
	// ingest queue and be refused.
	pending := min(max((64<<20)/len(p.template), 64), 4096)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pending))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsPublisher{nc: nc, js: js, prefix: t.prefix, tenant: t.tenant, payload: p}, nil
}

func (p *natsPublisher) close() { p.nc.Close() }

func (p *natsPublisher) publish(ctx context.Context, eventType string, base, n int, rate float64, c *counters) error {
	subject := p.prefix + ".events." + p.tenant + "." + eventType
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	futures := make(chan jetstream.PubAckFuture, 4096)
	// Acks are counted as they come, so the progress shows accepted events, not queued ones.
	var acks sync.WaitGroup
	acks.Go(func() {
		for f := range futures {
			select {
			case <-f.Ok():
				c.published.Add(1)
			case err := <-f.Err():
				if tooManyRequests(err) {
					err = p.republish(ctx, f.Msg(), c)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				c.published.Add(1)
			}
		}
	})
	var err error
	for i := range n {
		if err = pace(ctx, start, i, rate); err != nil {
			break
		}
		var f jetstream.PubAckFuture
		// A server busy with a large backlog may take a while to ack: wait, as a producer would, rather than fail.
		f, err = p.js.PublishAsync(subject, p.payload.build(base+i, time.Now().UnixNano()), jetstream.WithStallWait(time.Minute))
		if err != nil {
			err = fmt.Errorf("publish event %d: %w", i, err)
			break
		}
		futures <- f
	}
	close(futures)
	acks.Wait()
	if err != nil {
		return err
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d events were not acknowledged: %w", f, n, *firstErr.Load())
	}
	return nil
}

// tooManyRequests reports the server refusing a publication for now: its ingest queue is full (429).
func tooManyRequests(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests
}

// republish sends a refused publication again, synchronously, backing off, as a producer facing back
// pressure would; its publication time stays the first try's.
func (p *natsPublisher) republish(ctx context.Context, m *nats.Msg, c *counters) error {
	delay := 10 * time.Millisecond
	for {
		c.retried.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		if err == nil || !tooManyRequests(err) {
			return err
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// httpPublisher ingests events through POST /event/{tenant}/events from `clients` concurrent clients, or,
// with batch above 1, through POST /event/{tenant}/events/batch, batch events per request.
type httpPublisher struct {
	target  *target
	clients int
	batch   int
	client  *http.Client
	payload *payload // the whole request body
	types   map[string]*payload
}

// ingestBody is the request body of POST /event/{tenant}/events around data.
func ingestBody(eventType string, data []byte) []byte {
	body, _ := json.Marshal(struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}{eventType, data})
	return body
}

func newHTTPPublisher(t *target, clients, batch int, p *payload) *httpPublisher {
	return &httpPublisher{target: t, clients: clients, batch: max(batch, 1), payload: p, types: map[string]*payload{},
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}}
}

func (p *httpPublisher) close() { p.client.CloseIdleConnections() }

func (p *httpPublisher) publish(ctx context.Context, eventType string, base, n int, rate float64, c *counters) error {
	tmpl, ok := p.types[eventType]
	if !ok {
		var err error
		if tmpl, err = p.payload.wrap(ingestBody(eventType, p.payload.template)); err != nil {
			return err
		}
		p.types[eventType] = tmpl
	}
	url := p.target.http + "/event/" + p.target.tenant + "/events"
	if p.batch > 1 {
		url += "/batch"
	}
	auth := "Bearer " + p.target.token
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	var wg sync.WaitGroup
	for range p.clients {
		wg.Go(func() {
			var body bytes.Buffer
			for {
				i := int(next.Add(int64(p.batch)) - int64(p.batch))
				if i >= n || firstErr.Load() != nil {
					return
				}
				k := min(p.batch, n-i)
				if err := pace(ctx, start, i, rate); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				body.Reset()
				if p.batch > 1 {
					body.WriteString(`{"events":[`)
				}
				now := time.Now().UnixNano()
				for j := range k {
					if j > 0 {
						body.WriteByte(',')
					}
					body.Write(tmpl.build(base+i+j, now))
				}
				if p.batch > 1 {
					body.WriteString(`]}`)
				}
				err := p.post(ctx, url, auth, body.Bytes(), k)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				c.published.Add(int64(k))
			}
		})
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return *err
	}
	return nil
}

// post sends one ingest request of n events and checks that every event was accepted.
func (p *httpPublisher) post(ctx context.Context, url, auth string, body []byte, n int) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	if p.batch <= 1 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	var answer struct {
		Results []struct {
			Locator string          `json:"locator"`
			Error   json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	if len(answer.Results) != n {
		return fmt.Errorf("POST %s: %d results for %d events", url, len(answer.Results), n)
	}
	for i, r := range answer.Results {
		if r.Locator == "" {
			return fmt.Errorf("POST %s: event %d refused: %s", url, i, r.Error)
		}
	}
	return nil
}

// deliveryTemplate is a body shaped exactly as the engine delivers the event (its EventResponse), for the
// baseline: same size, same fields.
func deliveryTemplate(p *payload, tenant string) (*payload, error) {
	stored := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	body, err := json.Marshal(&hookstream.Event{Locator: hookstream.EventLocator(stored, 123456), Type: EventType,
		Tenant: tenant, Timestamp: stored, Data: p.template})
	if err != nil {
		return nil, err
	}
	return p.wrap(body)
}

// deliveryHeaders are the headers a delivery carries, with values of the same sizes (the baseline does not
// sign: signing is the engine's work).
func deliveryHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "hookstream/"+engine.Version)
	h.Set("Webhook-Id", hookstream.EventLocator(time.Unix(1767225600, 0), 1))
	h.Set("Webhook-Timestamp", strconv.FormatInt(1767225600, 10))
	h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	return h
}

// rawPosts POSTs n bodies to each of urls from `concurrency` goroutines, at most perHost at once to one URL
// (the engine's per-endpoint limit, enforced the same way: a transport's MaxConnsPerHost), and returns how
// long it took. Body k goes to urls[k % len(urls)] with sequence base + k / len(urls).
func rawPosts(ctx context.Context, urls []string, tmpl *payload, header http.Header, base, n, concurrency, perHost int, done *atomic.Int64) (time.Duration, error) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: perHost, MaxConnsPerHost: perHost}}
	defer client.CloseIdleConnections()
	total := int64(n) * int64(len(urls))
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= total || firstErr.Load() != nil {
					return
				}
				url, seq := urls[k%int64(len(urls))], base+int(k/int64(len(urls)))
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(tmpl.build(seq, time.Now().UnixNano())))
				req.Header = header.Clone()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("baseline POST %s: status %d", url, resp.StatusCode)
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := firstErr.Load(); err != nil {
		return 0, *err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if done.Load() < total {
		return 0, errors.New("baseline stopped early")
	}
	return elapsed, nil
}
