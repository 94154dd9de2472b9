package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// orderReceiver is an endpoint that records the order of the requests it gets and how many it had in flight
// at once, takes hold long to answer each (so overlapping requests would show), and fails the first
// failures requests of the event it is told to.
type orderReceiver struct {
	srv      *httptest.Server
	hold     time.Duration
	mu       sync.Mutex
	ids      []string // webhook-id of each request, in arrival order
	at       []time.Time
	ok       map[string]int
	inFlight int
	most     int
	failures int            // how many more requests for the failNth event fail
	failNth  int            // which event (0-based, in arrival order) fails; -1 for none
	seen     map[string]int // each event's place in arrival order
}

func newOrderReceiver(t *testing.T, hold time.Duration) *orderReceiver {
	rc := &orderReceiver{hold: hold, ok: map[string]int{}, seen: map[string]int{}, failNth: -1}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Webhook-Id")
		rc.mu.Lock()
		rc.inFlight++
		rc.most = max(rc.most, rc.inFlight)
		rc.ids = append(rc.ids, id)
		rc.at = append(rc.at, time.Now())
		status := http.StatusOK
		if _, ok := rc.seen[id]; !ok {
			rc.seen[id] = len(rc.seen)
		}
		if rc.seen[id] == rc.failNth && rc.failures > 0 {
			rc.failures--
			status = http.StatusServiceUnavailable
		}
		rc.mu.Unlock()
		time.Sleep(rc.hold) // the endpoint's own work: overlapping requests would overlap here
		rc.mu.Lock()
		rc.inFlight--
		if status == http.StatusOK {
			rc.ok[id]++
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// failArrival makes the receiver answer 503 to the first n requests for the nth event (0-based) to arrive.
func (rc *orderReceiver) failArrival(nth, n int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.failNth, rc.failures = nth, n
}

// waitDelivered waits until each of the events was answered 200.
func (rc *orderReceiver) waitDelivered(t *testing.T, events []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d events delivered", len(events)), func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range events {
			if rc.ok[id] == 0 {
				return false
			}
		}
		return true
	})
}

// checkOrder fails the test unless the requests came one at a time and in the order of events: each event's
// requests before the next event's first, save that the event in flight when an instance died may be sent
// once more (at-least-once). It returns the requests, in order.
func (rc *orderReceiver) checkOrder(t *testing.T, events []string) []string {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.most != 1 {
		t.Errorf("%d requests in flight at once, want 1", rc.most)
	}
	index := map[string]int{}
	for i, id := range events {
		index[id] = i
	}
	last := -1
	for i, id := range rc.ids {
		n, ok := index[id]
		switch {
		case !ok:
			t.Errorf("request %d is for unknown event %s", i, id)
		case n < last:
			t.Errorf("request %d is for event #%d after event #%d had been sent: out of order (%v)", i, n, last, positions(rc.ids, index))
			return slices.Clone(rc.ids)
		default:
			last = n
		}
	}
	return slices.Clone(rc.ids)
}

func positions(ids []string, index map[string]int) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = index[id]
	}
	return out
}

func fifoBody(url string) map[string]any {
	return map[string]any{"name": "ordered", "ordering": "fifo", "endpoint": map[string]any{"url": url},
		"failureHandling": map[string]any{"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 3}}}
}

func TestFIFOSendsOneAtATimeInOrderAndHoldsBackBehindARetry(t *testing.T) {
	h := startEngine(t)
	rc := newOrderReceiver(t, 5*time.Millisecond)
	wh := h.createWebhook(tenantA, fifoBody(rc.srv.URL+"/fifo"))
	got := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)
	if got["ordering"] != "fifo" {
		t.Fatalf("ordering = %v, want fifo", got["ordering"])
	}
	rc.failArrival(2, 2) // the third event fails twice, then succeeds
	var events []string
	for i := range 10 {
		events = append(events, h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": i}).Locator)
	}
	rc.waitDelivered(t, events, 30*time.Second)
	ids := rc.checkOrder(t, events)
	want := slices.Concat(events[:3], []string{events[2], events[2]}, events[3:])
	if !slices.Equal(ids, want) {
		t.Errorf("requests %v, want %v", positions(ids, indexOf(events)), positions(want, indexOf(events)))
	}
	for _, id := range events {
		if n := rc.ok[id]; n != 1 {
			t.Errorf("event %s succeeded %d times, want once", id, n)
		}
	}
	// The third event's tries are the strategy's: a second apart, never early.
	var tries []time.Time
	for i, id := range ids {
		if id == events[2] {
			tries = append(tries, rc.at[i])
		}
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < time.Second {
			t.Errorf("retry %d came %s after the try before, want at least 1 s", i, gap)
		}
	}
	// Its attempts are on record: two FAILED, then SUCCESS.
	eventually(t, 10*time.Second, "the third event's three attempts", func() bool {
		var statuses []string
		for _, a := range h.attemptsOf(wh) {
			if a["event"] == events[2] {
				statuses = append(statuses, fmt.Sprint(a["status"]))
			}
		}
		slices.Sort(statuses)
		return slices.Equal(statuses, []string{"FAILED", "FAILED", "SUCCESS"})
	})
}

func indexOf(events []string) map[string]int {
	index := map[string]int{}
	for i, id := range events {
		index[id] = i
	}
	return index
}

func TestFIFOFinalFailureDivertsAndTheNextEventGoes(t *testing.T) {
	h := startEngine(t)
	rc := newOrderReceiver(t, 0)
	body := fifoBody(rc.srv.URL + "/fifo")
	body["failureHandling"] = map[string]any{"divert": true, "retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 1}}
	wh := h.createWebhook(tenantA, body)
	rc.failArrival(0, 2) // both its tries
	first := h.publishHTTP(tenantA, "policy.issue", map[string]any{}).Locator
	second := h.publishHTTP(tenantA, "policy.issue", map[string]any{}).Locator
	rc.waitDelivered(t, []string{second}, 20*time.Second)
	ids := rc.checkOrder(t, []string{first, second})
	if !slices.Equal(ids, []string{first, first, second}) {
		t.Errorf("requests %v, want the first event twice, then the second", positions(ids, indexOf([]string{first, second})))
	}
	eventually(t, 10*time.Second, "the first event diverted", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/"+wh+"/diverted/"+first), adminToken, nil).status == http.StatusOK
	})
}

func TestFIFOSuspendedWebhookReleasesInOrder(t *testing.T) {
	h := startEngine(t)
	rc := newOrderReceiver(t, 0)
	wh, first := suspendingFIFO(h, rc)
	events := []string{first}
	for i := range 5 {
		events = append(events, h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": i}).Locator)
	}
	eventually(t, 10*time.Second, "the webhook suspended", func() bool {
		return h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)["suspended"] == true
	})
	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+wh+"/unsuspend"), adminToken, nil)
	rc.waitDelivered(t, events[1:], 20*time.Second)
	ids := rc.checkOrder(t, events)
	if !slices.Equal(ids, events) {
		t.Errorf("requests %v, want the first event once (it failed finally), then the rest in order", positions(ids, indexOf(events)))
	}
}

// TestFIFOAcrossTwoInstances runs two engines on one NATS server; events come in through both.
func TestFIFOAcrossTwoInstances(t *testing.T) {
	a, b := startPair(t)
	rc := newOrderReceiver(t, 2*time.Millisecond)
	wh := a.createWebhook(tenantA, fifoBody(rc.srv.URL+"/fifo"))
	seenOnBoth(t, b, wh)
	rc.failArrival(2, 2) // the third event fails twice, then succeeds
	events := publishAlternately(a, b, 30)
	rc.waitDelivered(t, events, 30*time.Second)
	ids := rc.checkOrder(t, events)
	if len(ids) != len(events)+2 {
		t.Errorf("%d requests, want %d: each event once and the third twice more", len(ids), len(events)+2)
	}
}

// suspendingFIFO creates a FIFO webhook that suspends on a final failure, and ingests a first event that
// fails for good: the webhook is suspended by it, and holds what follows.
func suspendingFIFO(h *harness, rc *orderReceiver) (webhook, first string) {
	body := fifoBody(rc.srv.URL + "/fifo")
	body["failureHandling"] = map[string]any{"suspend": true}
	webhook = h.createWebhook(tenantA, body)
	rc.failArrival(0, 1)
	return webhook, h.publishHTTP(tenantA, "policy.issue", map[string]any{}).Locator
}

// startNATS starts a standalone JetStream server on loopback, for instances that run as processes of their
// own (so one can be killed).
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return ns
}

// TestFIFOSurvivesAnInstanceKilled kills (SIGKILL) the instance sending a FIFO webhook's events mid-stream:
// the other takes over once the lease expires, and carries on in order.
func TestFIFOSurvivesAnInstanceKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two instances")
	}
	ns := startNATS(t)
	instances := map[int]*clusterInstance{}
	for range 2 {
		inst := startInstanceWith(t, ns.ClientURL(), t.TempDir(), "--lease-ttl", "2s")
		instances[inst.cmd.Process.Pid] = inst
	}
	var first *clusterInstance
	for _, inst := range instances {
		first = inst
	}
	rc := newOrderReceiver(t, 20*time.Millisecond)
	status, body := first.c.do(http.MethodPost, wpath(tenantA, ""), fifoBody(rc.srv.URL+"/fifo"))
	if status != http.StatusOK {
		t.Fatalf("create: %d %s", status, body)
	}
	var wh struct{ Locator string }
	_ = json.Unmarshal(body, &wh)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var events []string
	for i := range 60 {
		status, body := first.c.do(http.MethodPost, fmt.Sprintf("/event/%s/events", tenantA), map[string]any{"type": "policy.issue", "data": map[string]any{"n": i}})
		if status != http.StatusAccepted && status != http.StatusOK {
			t.Fatalf("publish %d: %d %s", i, status, body)
		}
		var ev struct{ Locator string }
		_ = json.Unmarshal(body, &ev)
		events = append(events, ev.Locator)
	}
	// Midway, kill whichever instance holds the webhook's lease: the one sending.
	eventually(t, 20*time.Second, "a third of the events delivered", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.ok) >= 20
	})
	kv, err := js.KeyValue(t.Context(), "HOOKSTREAM_LEASES")
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(t.Context(), "release."+tenantA+"."+wh.Locator)
	if err != nil {
		t.Fatalf("the sending instance's lease: %v", err)
	}
	parts := strings.Split(string(entry.Value()), "/")
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	victim, ok := instances[pid]
	if !ok {
		t.Fatalf("lease owner %q is neither instance", entry.Value())
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.done <- <-victim.done // gone; the error goes back for the cleanup that waits for it too
	rc.waitDelivered(t, events, 60*time.Second)
	ids := rc.checkOrder(t, events)
	// At most the event in flight at the kill goes again: a try on record is carried on from, not re-sent.
	if len(ids) > len(events)+1 {
		t.Errorf("%d requests for %d events, want at most one more", len(ids), len(events))
	}
}

// startPair starts two engines on one NATS server: the first's embedded one.
func startPair(t *testing.T) (a, b *harness) {
	a = startEngine(t)
	return a, startEngine(t, func(c *config.Config) { c.NATS = a.engine.NATSURL() })
}

// seenOnBoth waits until the second engine's view has the webhook.
func seenOnBoth(t *testing.T, b *harness, webhook string) {
	t.Helper()
	eventually(t, 10*time.Second, "the webhook on the second instance", func() bool {
		return b.do(http.MethodGet, wpath(tenantA, "/"+webhook), adminToken, nil).status == http.StatusOK
	})
}

// publishAlternately ingests n events through a and b in turn, and returns their locators in ingestion order.
func publishAlternately(a, b *harness, n int) []string {
	var events []string
	for i := range n {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		events = append(events, inst.publishHTTP(tenantA, "policy.issue", map[string]any{"n": i}).Locator)
	}
	return events
}

// TestRateLimitHoldsAcrossTwoInstances limits a webhook to 20 deliveries a second and sends it 200 events
// through two engines on one NATS server: every event arrives, and no one-second window of request starts
// holds more than 22 (the limit and a tenth).
func TestRateLimitHoldsAcrossTwoInstances(t *testing.T) {
	a, b := startPair(t)
	rc := newOrderReceiver(t, 0)
	wh := a.createWebhook(tenantA, map[string]any{"name": "limited", "endpoint": map[string]any{"url": rc.srv.URL + "/limited", "rateLimit": 20}})
	got := a.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)
	if ep, _ := got["endpoint"].(map[string]any); ep["rateLimit"] != float64(20) {
		t.Fatalf("endpoint = %v, want rateLimit 20", got["endpoint"])
	}
	seenOnBoth(t, b, wh)
	events := publishAlternately(a, b, 200)
	rc.waitDelivered(t, events, 60*time.Second)
	rc.mu.Lock()
	starts := slices.Clone(rc.at)
	rc.mu.Unlock()
	slices.SortFunc(starts, func(x, y time.Time) int { return x.Compare(y) })
	most := 0
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	t.Logf("%d requests over %s; at most %d in a second", len(starts), starts[len(starts)-1].Sub(starts[0]), most)
	if most > 22 {
		t.Errorf("a one-second window holds %d request starts, want at most 22", most)
	}
	// The excess waited, and /metrics says so.
	waits := 0.0
	for _, h := range []*harness{a, b} {
		waits += metricValue(t, string(h.must(http.StatusOK, http.MethodGet, "/metrics", "", nil).body), "hookstream_rate_limit_waits_total")
	}
	if waits < 100 {
		t.Errorf("hookstream_rate_limit_waits_total sums to %g over both instances, want most of the 200 tries", waits)
	}
}

// metricValue returns the value of an unlabelled metric in a Prometheus text exposition.
func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestFIFOOrderHoldsForAnEventHeldLate moves a suspended FIFO webhook's oldest held event behind more than a
// thousand newer ones (as a hold that came late, after a router's crash, would be): the release still sends
// it first.
func TestFIFOOrderHoldsForAnEventHeldLate(t *testing.T) {
	h := startEngine(t)
	rc := newOrderReceiver(t, 0)
	wh, _ := suspendingFIFO(h, rc)
	eventually(t, 10*time.Second, "the webhook suspended", func() bool {
		return h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wh), adminToken, nil).object(t)["suspended"] == true
	})
	nc, js := h.natsClient()
	const n = 1100
	for i := range n {
		if _, err := js.PublishAsync("hookstream.events."+tenantA+".policy.issue", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("publishes not acknowledged")
	}
	_ = nc
	held, err := js.Stream(t.Context(), "HOOKSTREAM_HELD")
	if err != nil {
		t.Fatal(err)
	}
	subject := "hookstream.held." + tenantA + "." + wh
	eventually(t, 30*time.Second, "every event held", func() bool {
		info, err := held.Info(t.Context(), jetstream.WithSubjectFilter(subject))
		return err == nil && info.State.Subjects[subject] == n
	})
	// The oldest held event goes to the end of the held stream.
	raw, err := held.GetMsg(t.Context(), 1, jetstream.WithGetMsgSubject(subject))
	if err != nil {
		t.Fatal(err)
	}
	oldest := raw.Header.Get("Hookstream-Event")
	m := nats.NewMsg(subject)
	m.Data = raw.Data
	for k, v := range raw.Header {
		if !strings.HasPrefix(k, "Nats-") {
			m.Header[k] = v
		}
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := held.DeleteMsg(t.Context(), raw.Sequence); err != nil {
		t.Fatal(err)
	}
	h.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+wh+"/unsuspend"), adminToken, nil)
	eventually(t, 60*time.Second, "every held event delivered", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.ok) == n
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.ids) < 2 || rc.ids[1] != oldest {
		at := slices.Index(rc.ids, oldest)
		t.Errorf("the oldest held event went out as request %d, want 1 (right after the failed one)", at)
	}
	if rc.most != 1 {
		t.Errorf("%d requests in flight at once", rc.most)
	}
}

// TestFIFORetryCarriesOnAfterOrderingIsSwitchedOff switches a FIFO webhook back to no ordering while its
// event waits for a retry, and restarts the engine: the event queued in order is still retried, and
// delivered.
func TestFIFORetryCarriesOnAfterOrderingIsSwitchedOff(t *testing.T) {
	h := startEngine(t)
	rc := newOrderReceiver(t, 0)
	body := fifoBody(rc.srv.URL + "/fifo")
	body["failureHandling"] = map[string]any{"retryStrategy": map[string]any{"type": "linear", "interval": 2, "attempts": 3}}
	wh := h.createWebhook(tenantA, body)
	rc.failArrival(0, 1)
	ev := h.publishHTTP(tenantA, "policy.issue", map[string]any{}).Locator
	eventually(t, 10*time.Second, "a FAILED try and a PENDING retry", func() bool {
		statuses := map[any]int{}
		for _, a := range h.attemptsOf(wh) {
			statuses[a["status"]]++
		}
		return statuses["FAILED"] == 1 && statuses["PENDING"] == 1
	})
	h.must(http.StatusOK, http.MethodPatch, wpath(tenantA, "/"+wh), adminToken, map[string]any{"ordering": nil})
	h.restart()
	rc.waitDelivered(t, []string{ev}, 20*time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.ids) != 2 {
		t.Errorf("%d requests, want the failed try and one retry", len(rc.ids))
	}
}

// TestFIFOIsNotPacedByAnotherWebhooksRateLimit sends events to a FIFO webhook of one tenant and to a webhook
// limited to one delivery a second of another: the FIFO webhook's events do not wait on the limited one's.
func TestFIFOIsNotPacedByAnotherWebhooksRateLimit(t *testing.T) {
	h := startEngine(t)
	fifo := newOrderReceiver(t, 0)
	limited := newOrderReceiver(t, 0)
	h.createWebhook(tenantA, fifoBody(fifo.srv.URL+"/fifo"))
	h.createWebhook(tenantB, map[string]any{"name": "limited", "endpoint": map[string]any{"url": limited.srv.URL + "/limited", "rateLimit": 1}})
	var events []string
	for i := range 12 {
		h.publishHTTP(tenantB, "policy.issue", map[string]any{"n": i})
		events = append(events, h.publishHTTP(tenantA, "policy.issue", map[string]any{"n": i}).Locator)
	}
	fifo.waitDelivered(t, events, 30*time.Second)
	limited.mu.Lock()
	defer limited.mu.Unlock()
	// At one a second, the limited webhook has had a few requests by then, not twelve.
	if n := len(limited.ids); n > 6 {
		t.Errorf("the limited webhook had %d requests when the FIFO webhook's 12 events were in: the FIFO one waited on it", n)
	}
}
