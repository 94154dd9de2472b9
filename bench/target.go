package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// target is the engine under measurement: one started in-process in a temporary data folder, or a running
// one reached through its API and NATS.
type target struct {
	http   string // base URL of the API, no trailing slash
	nats   string
	creds  string
	token  string
	tenant string
	prefix string
	client *http.Client

	engine  *engine.Engine // in-process only
	child   *child         // spawned only
	dataDir string
	// gcPercent is the in-process engine's GC target, which the process runs at but for the raw baseline,
	// and goGC the target the process had (0: none set).
	gcPercent, goGC int
	created         []string // webhooks to delete at the end (running engine only)
}

// connect opens a NATS connection to the engine's server.
func (t *target) connect() (*nats.Conn, error) {
	opts := []nats.Option{nats.Name("hookstream bench"), nats.MaxReconnects(-1)}
	if t.creds != "" {
		opts = append(opts, nats.UserCredentials(t.creds))
	}
	nc, err := nats.Connect(t.nats, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", t.nats, err)
	}
	return nc, nil
}

// duplicateWindow returns the longest duplicate window of the engine's streams: how long the server keeps
// the message id of a write in memory.
func (t *target) duplicateWindow(ctx context.Context) (time.Duration, error) {
	nc, err := t.connect()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	subjects := broker.Subjects{Prefix: t.prefix}
	var longest time.Duration
	for _, kind := range broker.Kinds() {
		s, err := js.Stream(ctx, subjects.StreamName(kind))
		if err != nil {
			return 0, fmt.Errorf("duplicate window of %s: %w", subjects.StreamName(kind), err)
		}
		longest = max(longest, s.CachedInfo().Config.Duplicates)
	}
	return longest, nil
}

// startTarget starts the in-process engine, or checks that the running one answers.
func startTarget(ctx context.Context, o *Options) (*target, error) {
	t := &target{prefix: o.SubjectPrefix, creds: o.NATSCreds, tenant: o.Tenant,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}}
	if o.Spawn != "" {
		c, httpURL, natsURL, token, err := spawn(ctx, o.Spawn, o)
		if err != nil {
			return nil, err
		}
		t.child, t.http, t.nats, t.token = c, httpURL, natsURL, token
		if t.tenant == "" {
			t.tenant = tenantFor(o.Seed)
		}
		return t, nil
	}
	if !o.InProcess() {
		t.http, t.nats, t.token = strings.TrimRight(o.HTTP, "/"), o.NATS, o.Token
		if _, err := t.get(ctx, "/healthz"); err != nil {
			return nil, fmt.Errorf("engine at %s: %w", t.http, err)
		}
		return t, nil
	}
	dir, err := os.MkdirTemp("", "hookstream-bench-*")
	if err != nil {
		return nil, err
	}
	t.dataDir = dir
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Serve's defaults, on free loopback ports in a temporary folder, delivering to the loopback receiver.
	cfg := config.Default()
	cfg.HTTP, cfg.NATSListen, cfg.Data = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.AllowPrivateDestinations, cfg.LogLevel = true, "warn"
	cfg.SubjectPrefix, cfg.Sync, cfg.Pprof = o.SubjectPrefix, o.Sync, o.Pprof
	cfg.MaxInFlight, cfg.MaxInFlightPerEndpoint = o.MaxInFlight, o.MaxInFlightPerEndpoint
	cfg.AdminToken = "adm_bench_" + hex.EncodeToString(secret)
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	e, err := engine.Start(startCtx, cfg, log)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start engine: %w", err)
	}
	t.engine = e
	if o.GCPercent > 0 {
		t.gcPercent, t.goGC = o.GCPercent, debug.SetGCPercent(o.GCPercent)
	}
	t.http, t.nats, t.token = "http://"+e.HTTPAddr(), e.NATSURL(), e.AdminToken()
	if t.tenant == "" {
		t.tenant = tenantFor(o.Seed)
	}
	return t, nil
}

// withGoGC sets the process's GC target back to what it was before the engine's, for the raw baseline, and
// returns what sets the engine's again: serve's target is the engine's setting, not raw HTTP's.
func (t *target) withGoGC() (restore func()) {
	if t.gcPercent == 0 {
		return func() {}
	}
	debug.SetGCPercent(t.goGC)
	return func() { debug.SetGCPercent(t.gcPercent) }
}

// inProcess reports whether the engine runs in this process.
func (t *target) inProcess() bool { return t.engine != nil }

// close stops the in-process engine and removes its data, or deletes the webhooks the run created on the
// running engine (so it stops delivering to a receiver that is gone).
func (t *target) close(ctx context.Context) error {
	if t.child != nil {
		return t.child.stop()
	}
	if t.engine == nil {
		var errs []error
		for _, loc := range t.created {
			if _, err := t.do(ctx, http.MethodDelete, "/event/"+t.tenant+"/webhooks/"+loc, nil, http.StatusNoContent); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	err := t.engine.Stop(ctx)
	t.withGoGC() // for good: the engine is gone
	if rerr := os.RemoveAll(t.dataDir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// apiError is an answer the bench did not expect.
type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// do sends a request with the token and returns the body when the status is want.
func (t *target) do(ctx context.Context, method, path string, body any, want int, header ...string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.http+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, &apiError{method: method, path: path, status: resp.StatusCode, body: string(data)}
	}
	return data, nil
}

func (t *target) get(ctx context.Context, path string) ([]byte, error) {
	return t.do(ctx, http.MethodGet, path, nil, http.StatusOK)
}

// createWebhook creates a webhook of the tenant receiving eventType at url and returns its locator.
func (t *target) createWebhook(ctx context.Context, name, url, eventType string, failureHandling map[string]any) (string, error) {
	body := map[string]any{"name": name, "endpoint": map[string]any{"url": url}, "eventTypes": []string{eventType}}
	if failureHandling != nil {
		body["failureHandling"] = failureHandling
	}
	data, err := t.do(ctx, http.MethodPost, "/event/"+t.tenant+"/webhooks", body, http.StatusOK)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.Contains(ae.body, "private") {
			return "", fmt.Errorf("%w (start the engine with --allow-private-destinations: the receiver is on 127.0.0.1)", err)
		}
		return "", fmt.Errorf("create webhook: %w", err)
	}
	var w struct {
		Locator string `json:"locator"`
	}
	if err := json.Unmarshal(data, &w); err != nil || w.Locator == "" {
		return "", fmt.Errorf("create webhook: unexpected answer %.200s", data)
	}
	if !t.inProcess() {
		t.created = append(t.created, w.Locator)
	}
	return w.Locator, nil
}

// discoverTenant finds the tenant of a token that serves exactly one: it creates a /v1 subscription (whose
// tenant is the token's) to the receiver's probe path, asks for an example delivery, reads the tenant from the
// delivered EventResponse, and deletes the subscription. It also proves the engine can reach the receiver.
func (t *target) discoverTenant(ctx context.Context, probeURL string, probe <-chan string) error {
	data, err := t.do(ctx, http.MethodPost, "/v1/event_subscriptions",
		map[string]any{"url": probeURL, "description": "hookstream bench probe", "event_types": []string{"bench.probe"}}, http.StatusCreated)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.Contains(ae.body, "Hookstream-Tenant") {
			return errors.New("the token serves several tenants (or is the admin token): name one with --tenant")
		}
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.Contains(ae.body, "private") {
			return fmt.Errorf("%w (start the engine with --allow-private-destinations: the receiver is on 127.0.0.1)", err)
		}
		return fmt.Errorf("find the token's tenant: %w", err)
	}
	var sub struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &sub); err != nil || sub.Token == "" {
		return fmt.Errorf("find the token's tenant: unexpected answer %.200s", data)
	}
	defer func() {
		_, _ = t.do(context.WithoutCancel(ctx), http.MethodDelete, "/v1/event_subscriptions/"+sub.Token, nil, http.StatusNoContent)
	}()
	if _, err := t.do(ctx, http.MethodPost, "/v1/simulate/event_subscriptions/"+sub.Token+"/send_example",
		map[string]any{"event_type": "bench.probe"}, http.StatusAccepted); err != nil {
		return fmt.Errorf("find the token's tenant: %w", err)
	}
	select {
	case tenant := <-probe:
		t.tenant = tenant
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("find the token's tenant: the engine did not deliver the probe to 127.0.0.1 within 30 s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// metrics scrapes /metrics into a map from series (name and labels, as written) to value.
func (t *target) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.http+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// Series the bench reads from /metrics.
const (
	metricRSS            = "process_resident_memory_bytes"
	metricCPU            = "process_cpu_seconds_total"
	metricRetryScheduled = `hookstream_deliveries_total{outcome="retry_scheduled"}`
	metricRouterPending  = `hookstream_consumer_pending_messages{consumer="router"}`
	metricRouterAcks     = `hookstream_consumer_ack_pending_messages{consumer="router"}`
	metricViewLagPrefix  = "hookstream_projection_lag_messages{" // one series per view
)
