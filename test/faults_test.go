package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fastFaults are fault-handling options for tests: quick restarts, checks and stall reports.
func fastFaults() engine.Options {
	return engine.Options{RestartMin: 20 * time.Millisecond, RestartMax: 500 * time.Millisecond,
		Healthy: 200 * time.Millisecond, CheckEvery: 100 * time.Millisecond, StallAfter: 2 * time.Second}
}

// startEngineWith starts an engine with cfg and opts, waiting up to wait for it to be ready, and stops it
// when the test ends.
func startEngineWith(t *testing.T, cfg *config.Config, opts engine.Options, wait time.Duration) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, logs: &logBuffer{}, client: checkedClient(t, 30*time.Second)}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("engine log:\n%s", tail(h.logs.String(), 8000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := engine.StartWith(ctx, cfg, log, opts)
	if err != nil {
		t.Fatalf("start engine: %v\n%s", err, tail(h.logs.String(), 6000))
	}
	h.engine, h.base = e, "http://"+e.HTTPAddr()
	return h
}

// readiness is /readyz's answer.
type readiness struct {
	status  int
	Ready   bool     `json:"ready"`
	Failing []string `json:"failing"`
}

func getReadyz(t testing.TB, base string) (readiness, error) {
	client := checkedClient(t, 5*time.Second)
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return readiness{}, err
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return readiness{}, fmt.Errorf("readyz body: %w", err)
	}
	r.status = resp.StatusCode
	return r, nil
}

// waitReadyz polls /readyz until it answers 200 (failing empty) or, with want set, 503 naming want.
func waitReadyz(t *testing.T, base string, timeout time.Duration, want string) readiness {
	t.Helper()
	var last readiness
	eventually(t, timeout, fmt.Sprintf("readyz naming %q", want), func() bool {
		r, err := getReadyz(t, base)
		if err != nil {
			return false
		}
		last = r
		if want == "" {
			return r.status == http.StatusOK && r.Ready && len(r.Failing) == 0
		}
		return r.status == http.StatusServiceUnavailable && !r.Ready && slices.Contains(r.Failing, want)
	})
	return last
}

// externalNATS is a nats-server with JetStream on disk on a fixed loopback port, so that it can be stopped
// and started again on the same port and store.
type externalNATS struct {
	t    testing.TB
	opts server.Options
	ns   *server.Server
}

func newExternalNATS(t testing.TB) *externalNATS {
	t.Helper()
	host, port := splitHostPort(t, freePort(t))
	x := &externalNATS{t: t, opts: server.Options{ServerName: "external", Host: host, Port: port, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	t.Cleanup(x.stop)
	return x
}

func (x *externalNATS) url() string { return fmt.Sprintf("nats://%s:%d", x.opts.Host, x.opts.Port) }

func (x *externalNATS) start() {
	x.t.Helper()
	opts := x.opts // the server keeps and changes its options
	ns, err := server.NewServer(&opts)
	if err != nil {
		x.t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		x.t.Fatal("external nats-server not ready")
	}
	x.ns = ns
}

func (x *externalNATS) stop() {
	if x.ns != nil {
		x.ns.Shutdown()
		x.ns.WaitForShutdown()
		x.ns = nil
	}
}

// startRestartableCluster starts a 3-node JetStream cluster in-process whose nodes can be stopped and
// started again on the same ports and stores.
func startRestartableCluster(t *testing.T) []*externalNATS {
	t.Helper()
	var clients, routes []string
	for range 3 {
		clients, routes = append(clients, freePort(t)), append(routes, freePort(t))
	}
	nodes := make([]*externalNATS, 3)
	for i := range 3 {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats://"+r)
			}
		}
		host, port := splitHostPort(t, clients[i])
		_, cport := splitHostPort(t, routes[i])
		nodes[i] = &externalNATS{t: t, opts: server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: host, Port: port,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "hookstream-faults", Host: host, Port: cport},
			Routes:  server.RoutesFromStr(strings.Join(others, ","))}}
		t.Cleanup(nodes[i].stop)
	}
	for _, n := range nodes {
		n.start()
	}
	return nodes
}

// TestStartsWhileClusterReelects starts an instance at once after the cluster lost its JetStream meta leader,
// and while it has no quorum either: the instance serves /healthz, names nats on /readyz, keeps trying with
// backoff, becomes ready by itself once leaders are elected again, and delivers.
func TestStartsWhileClusterReelects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	nodes := startRestartableCluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	clustered := func(c *config.Config) {
		c.NATS, c.Replicas, c.DeliveryTimeout = strings.Join(urls, ","), 3, time.Second
	}
	cfg := testConfig(t)
	clustered(cfg)
	first := startEngineWith(t, cfg, fastFaults(), 60*time.Second) // creates the replicated streams
	first.stop()

	leader := slices.IndexFunc(nodes, func(n *externalNATS) bool { return n.ns.JetStreamIsLeader() })
	if leader < 0 {
		t.Fatal("no node leads JetStream")
	}
	other := (leader + 1) % 3
	nodes[leader].stop()
	nodes[other].stop() // no quorum until it is back: leaders cannot be elected meanwhile

	cfg = testConfig(t)
	clustered(cfg)
	cfg.HTTP = freePort(t)
	base := "http://" + cfg.HTTP
	// Start blocks until ready: it runs aside while the test watches /readyz, and ends with the test.
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	type started struct {
		e   *engine.Engine
		err error
	}
	result := make(chan started, 1)
	go func() {
		e, err := engine.StartWith(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), fastFaults())
		result <- started{e, err}
	}()
	t.Cleanup(func() {
		cancel()
		if r := <-result; r.e != nil {
			_ = r.e.Stop(context.Background())
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", tail(logs.String(), 8000))
		}
	})
	r := waitReadyz(t, base, 30*time.Second, "nats")
	t.Logf("without quorum: /readyz %+v", r)
	nodes[other].start()
	restarted := time.Now()
	res := <-result
	result <- res // for the cleanup
	if res.err != nil {
		t.Fatalf("start: %v\n%s", res.err, tail(logs.String(), 6000))
	}
	h := &harness{t: t, cfg: cfg, logs: logs, client: checkedClient(t, 30*time.Second),
		engine: res.e, base: "http://" + res.e.HTTPAddr()}
	t.Logf("ready %s after quorum came back, after %d restarts", time.Since(restarted).Round(time.Millisecond),
		strings.Count(h.logs.String(), "component failed; restarting"))
	waitReadyz(t, base, 10*time.Second, "")

	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("after election", rc.url("/r"), nil))
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 1})
	got := rc.waitFor(t, 1, 30*time.Second)
	if e := decodeEvent(t, got[0].body); e.Locator != ev.Locator {
		t.Fatalf("delivered %s, want %s", e.Locator, ev.Locator)
	}
}

// outageLoad ingests events steadily over HTTP and over NATS and keeps what was acknowledged, and every
// answer the HTTP API gave.
type outageLoad struct {
	mu       sync.Mutex
	acked    map[string]bool
	statuses map[int]int
	problems []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func (l *outageLoad) ack(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[id] = true
}

func (l *outageLoad) answered(status int, problem string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[status]++
	if problem != "" && len(l.problems) < 10 {
		l.problems = append(l.problems, problem)
	}
}

func (l *outageLoad) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[status]
}

func (l *outageLoad) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	return ids
}

func startOutageLoad(t *testing.T, h *harness, natsURL string) *outageLoad {
	l := &outageLoad{acked: map[string]bool{}, statuses: map[int]int{}, stop: make(chan struct{})}
	client := checkedClient(t, 15*time.Second)
	l.every(20*time.Millisecond, func(i int) {
		id := fmt.Sprintf("http-%d", i)
		body := fmt.Sprintf(`{"type":"policy.issue","data":{"id":%q}}`, id)
		req, _ := http.NewRequest(http.MethodPost, h.base+"/event/"+tenantA+"/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			l.answered(0, err.Error())
			return
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			l.ack(id)
			l.answered(resp.StatusCode, "")
		case http.StatusServiceUnavailable:
			var e struct{ Code, Message string }
			problem := ""
			if json.Unmarshal(data, &e) != nil || e.Code == "" || e.Message == "" || resp.Header.Get("Retry-After") == "" {
				problem = fmt.Sprintf("503 without Retry-After or error JSON: %q %s", resp.Header.Get("Retry-After"), data)
			}
			l.answered(resp.StatusCode, problem)
		default:
			l.answered(resp.StatusCode, fmt.Sprintf("%d %s", resp.StatusCode, data))
		}
	})
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	l.every(20*time.Millisecond, func(i int) {
		id := fmt.Sprintf("nats-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.Publish(ctx, "hookstream.events."+tenantA+".policy.issue", fmt.Appendf(nil, `{"id":%q}`, id))
		cancel()
		if err == nil {
			l.ack(id)
		}
	})
	return l
}

// every calls f with 0, 1, 2, … once per interval, in a goroutine of its own, until the load stops.
func (l *outageLoad) every(interval time.Duration, f func(i int)) {
	l.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(interval):
			}
			f(i)
		}
	})
}

func (l *outageLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// TestExternalNATSOutage stops an external NATS under steady ingest and starts it again: the engine answers
// 503 with Retry-After meanwhile (never 500), reports "nats" on /readyz, recovers by itself, and delivers
// every event that was acknowledged, before, during or after the outage.
func TestExternalNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a nats-server")
	}
	x := newExternalNATS(t)
	x.start()
	cfg := testConfig(t)
	cfg.NATS, cfg.DeliveryTimeout = x.url(), time.Second
	h := startEngineWith(t, cfg, fastFaults(), 60*time.Second)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("outage", rc.url("/r"), nil))

	load := startOutageLoad(t, h, x.url())
	eventually(t, 20*time.Second, "ingest before the outage", func() bool { return len(load.ackedIDs()) >= 20 })
	x.stop()
	down := time.Now()
	waitReadyz(t, h.base, 20*time.Second, "nats")
	eventually(t, 30*time.Second, "ingest refused during the outage", func() bool {
		return load.count(http.StatusServiceUnavailable) >= 20 && time.Since(down) >= 5*time.Second
	})
	if r, err := getReadyz(t, h.base); err != nil || r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %+v %v", r, err)
	}
	outage := time.Since(down)
	x.start()
	waitReadyz(t, h.base, 30*time.Second, "")
	t.Logf("ready again %s after NATS went down (down for %s)", time.Since(down).Round(time.Millisecond), outage.Round(time.Millisecond))
	before := len(load.ackedIDs())
	eventually(t, 20*time.Second, "ingest after the outage", func() bool { return len(load.ackedIDs()) >= before+20 })
	load.finish()

	acked := load.ackedIDs()
	delivered := func() map[string]bool {
		seen := map[string]bool{}
		for _, r := range rc.requests() {
			var e struct{ Data struct{ ID string } }
			if json.Unmarshal(r.body, &e) == nil {
				seen[e.Data.ID] = true
			}
		}
		return seen
	}
	var missing []string
	eventually(t, 90*time.Second, "every acknowledged event delivered", func() bool {
		seen := delivered()
		missing = missing[:0]
		for _, id := range acked {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("acknowledged %d events; answers %v", len(acked), load.statuses)
	if load.statuses[http.StatusInternalServerError] > 0 || len(load.problems) > 0 {
		t.Fatalf("answers %v; problems: %v", load.statuses, load.problems)
	}
}

// TestLostConsumerIsReportedAndHeals deletes the router's durable consumer from outside: the router stops
// receiving events without a word, the engine's check notices, /readyz names the router until the restarted
// router has recreated its consumer, and delivery goes on.
func TestLostConsumerIsReportedAndHeals(t *testing.T) {
	cfg := testConfig(t)
	h := startEngineWith(t, cfg, fastFaults(), 30*time.Second)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("heals", rc.url("/r"), nil))
	h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 1})
	rc.waitFor(t, 1, 20*time.Second)

	_, js := h.natsClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, "HOOKSTREAM_EVENTS", "router"); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, h.base, 20*time.Second, "router")
	waitReadyz(t, h.base, 20*time.Second, "")
	if _, err := js.Consumer(ctx, "HOOKSTREAM_EVENTS", "router"); err != nil {
		t.Fatalf("router consumer not recreated: %v", err)
	}
	h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 2})
	rc.waitFor(t, 2, 20*time.Second)
	if !strings.Contains(h.logs.String(), "restarting") {
		t.Error("no restart logged")
	}

	// The events view's ordered consumer, deleted likewise, recreates itself from where the view is.
	events, err := js.Stream(ctx, "HOOKSTREAM_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for name := range events.ConsumerNames(ctx).Name() {
		if name != "router" {
			if err := js.DeleteConsumer(ctx, "HOOKSTREAM_EVENTS", name); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("no view consumer on the events stream")
	}
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": 3})
	eventually(t, 30*time.Second, "the event in the events view", func() bool {
		r := h.do(http.MethodGet, "/event/"+tenantA+"/events/list?pageSize=100", adminToken, nil)
		return r.status == http.StatusOK && strings.Contains(string(r.body), ev.Locator)
	})
	waitReadyz(t, h.base, 10*time.Second, "")
}

// TestServeWithoutNATS runs the binary against an external NATS that is not there yet: it serves /healthz,
// answers 503 (with Retry-After, in each face's error shape) and /readyz 503 naming nats, becomes ready by
// itself once NATS starts, and, NATS gone again, stops on SIGTERM within the stop budget.
func TestServeWithoutNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	x := newExternalNATS(t)
	httpAddr := freePort(t)
	base := "http://" + httpAddr
	cmd, out, done := startBinary(t, "serve", "--http", httpAddr, "--data", t.TempDir(), "--nats", x.url(),
		"--delivery-timeout", "1s", "--allow-private-destinations")
	eventually(t, 30*time.Second, "healthz", func() bool {
		resp, err := checkedClient(t, 5*time.Second).Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	r := waitReadyz(t, base, 10*time.Second, "nats")
	t.Logf("readyz while NATS is away: %+v", r)
	c := binaryClient{t: t, base: base}
	for _, tc := range []struct{ method, path, body, field string }{
		{http.MethodPost, "/event/" + tenantA + "/events", `{"type":"policy.issue","data":{"n":1}}`, "code"},
		{http.MethodGet, "/event/" + tenantA + "/webhooks/list", "", "code"},
		{http.MethodGet, "/v1/event_subscriptions", "", "debugging_request_id"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Hookstream-Tenant", tenantA)
		resp, err := checkedClient(t, 30*time.Second).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]any
		_ = json.Unmarshal(data, &body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || body[tc.field] == nil || body["message"] == nil {
			t.Errorf("%s %s: %d Retry-After %q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Retry-After"), data)
		}
	}

	eventually(t, 10*time.Second, "a retry logged", func() bool { return strings.Contains(out.String(), "restarting") })

	x.start()
	waitReadyz(t, base, 30*time.Second, "")
	if status, body := c.do(http.MethodPost, "/event/"+tenantA+"/events", map[string]any{"type": "policy.issue", "data": map[string]any{"n": 1}}); status != http.StatusAccepted {
		t.Fatalf("ingest once NATS is there: %d %s", status, body)
	}

	x.stop()
	waitReadyz(t, base, 20*time.Second, "nats")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	budget := 10*time.Second + time.Second // + the delivery timeout
	signalled := time.Now()
	select {
	case err := <-done:
		done <- err
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(out.String(), 4000))
		}
		t.Logf("stopped %s after SIGTERM without NATS", time.Since(signalled).Round(time.Millisecond))
		t.Logf("%s", tail(out.String(), 3000))
	case <-time.After(budget):
		t.Fatalf("still running %s after SIGTERM without NATS\n%s", budget, tail(out.String(), 4000))
	}
}

// TestRefusedCredentialsEndStart checks that a NATS that refuses the engine's credentials ends the start
// with an error, instead of a retry forever: no restart can mend it.
func TestRefusedCredentialsEndStart(t *testing.T) {
	x := newExternalNATS(t)
	x.opts.Username, x.opts.Password = "someone", "secret-password"
	x.start()
	cfg := testConfig(t)
	cfg.NATS = x.url()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &logBuffer{}
	e, err := engine.StartWith(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), fastFaults())
	if err == nil {
		_ = e.Stop(context.Background())
		t.Fatal("started against a NATS that refuses it")
	}
	if ctx.Err() != nil || !strings.Contains(err.Error(), "uthorization") {
		t.Fatalf("start: %v, want an authorization error before the deadline\n%s", err, tail(logs.String(), 4000))
	}
	if strings.Contains(logs.String(), "secret-password") {
		t.Fatal("the password was logged")
	}
}
