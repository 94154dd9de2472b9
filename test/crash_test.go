package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// crashEngine is the real binary on one data folder and fixed ports, so it can be SIGKILLed and started again
// where producers (HTTP and NATS clients that reconnect) will find it.
type crashEngine struct {
	t                  *testing.T
	data               string
	httpAddr, natsAddr string
	cmd                *exec.Cmd
	done               chan error
	runs               []*syncBuffer // the output of every run, shown when the test fails
	client             *http.Client
}

func newCrashEngine(t *testing.T) *crashEngine {
	t.Helper()
	e := &crashEngine{t: t, data: t.TempDir(), httpAddr: freePort(t), natsAddr: freePort(t),
		client: checkedClient(t, 30*time.Second)}
	t.Cleanup(func() {
		if t.Failed() {
			for i, out := range e.runs {
				t.Logf("engine run %d output (tail):\n%s", i+1, tail(out.String(), 6000))
			}
		}
	})
	return e
}

// start runs `hookstream serve` and waits until it is ready.
func (e *crashEngine) start() {
	e.t.Helper()
	cmd, out, done := startBinary(e.t, "serve", "--http", e.httpAddr, "--data", e.data, "--nats-listen", e.natsAddr,
		"--allow-private-destinations", "--delivery-timeout", "1s")
	e.cmd, e.done = cmd, done
	e.runs = append(e.runs, out)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			e.t.Fatalf("engine exited while starting: %v\n%s", err, tail(out.String(), 6000))
		default:
		}
		resp, err := e.client.Get(e.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("engine not ready within 60 s\n%s", tail(out.String(), 6000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs the engine and waits until the process is gone.
func (e *crashEngine) kill() {
	e.t.Helper()
	if err := e.cmd.Process.Kill(); err != nil {
		e.t.Fatalf("kill: %v", err)
	}
	err := <-e.done
	e.done <- err // for startBinary's cleanup
}

func (e *crashEngine) url(path string) string { return "http://" + e.httpAddr + path }

// call sends a request with the admin token; body is JSON-encoded unless it is a string.
func (e *crashEngine) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url(path), rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// must sends a request and fails the test unless it answers want.
func (e *crashEngine) must(want int, method, path string, body any) []byte {
	e.t.Helper()
	status, data, err := e.call(method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, data)
	}
	return data
}

// natsClient connects to the engine's NATS port and keeps reconnecting to it across restarts.
func (e *crashEngine) natsClient() (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	nc, err := nats.Connect("nats://"+e.natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return nc, js
}

// streamMsg is one stored message, read as an auditor would.
type streamMsg struct {
	seq     uint64
	subject string
	stored  time.Time
	header  nats.Header
	data    []byte
}

// eventLocator is the locator of a stored event message, as the engine computes it.
func (m streamMsg) eventLocator() string {
	at := m.stored
	if t, err := time.Parse(time.RFC3339Nano, m.header.Get(broker.HeaderIngestedAt)); err == nil {
		at = t
	}
	return hookstream.EventLocator(at, m.seq)
}

// readStream reads every message of a stream that keeps its messages (not a work queue) with an ordered
// consumer; nil when the stream does not exist or is empty.
func readStream(t *testing.T, js jetstream.JetStream, name string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", name, err)
	}
	out := make([]streamMsg, 0, info.State.Msgs)
	for {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			out = append(out, streamMsg{seq: md.Sequence.Stream, subject: m.Subject(), stored: md.Timestamp,
				header: m.Headers(), data: m.Data()})
			if md.Sequence.Stream >= last {
				return out
			}
		}
		if n == 0 {
			if ctx.Err() != nil {
				t.Fatalf("read %s: stopped at %d of %d messages", name, len(out), info.State.Msgs)
			}
		}
	}
}

// deliveryRecord is an entry of the attempts (or diverted) stream as the test reads it.
type deliveryRecord struct {
	Type    hookstream.RecordType `json:"type"`
	Event   string                `json:"event"`
	Attempt *struct {
		Locator    string                   `json:"locator"`
		Event      string                   `json:"event"`
		Try        int                      `json:"try"`
		Status     hookstream.AttemptStatus `json:"status"`
		StatusCode int                      `json:"statusCode"`
	} `json:"attempt"`
	Diverted *struct {
		EventLocator   string `json:"eventLocator"`
		RequestLocator string `json:"requestLocator"`
	} `json:"diverted"`
	Cancelled string `json:"cancelled"`
	raw       []byte
	seq       uint64
}

// readDeliveryRecords reads the attempts stream, and the diverted stream where there is one, and returns the
// attempt records, the diverted records, and the attempts whose PENDING try was cancelled.
func readDeliveryRecords(t *testing.T, js jetstream.JetStream) (attempts, diverted []deliveryRecord, cancelled map[string]bool) {
	cancelled = map[string]bool{}
	t.Helper()
	for _, name := range []string{"HOOKSTREAM_ATTEMPTS", "HOOKSTREAM_DIVERTED"} {
		for _, m := range readStream(t, js, name) {
			for _, r := range decodeDeliveryRecords(t, name, m.seq, m.data) {
				switch r.Type {
				case hookstream.RecordDiverted:
					diverted = append(diverted, r)
				case hookstream.RecordAttempt:
					attempts = append(attempts, r)
				case hookstream.RecordAttemptCancelled:
					cancelled[r.Cancelled] = true
				}
			}
		}
	}
	return attempts, diverted, cancelled
}

// decodeDeliveryRecords decodes a stored entry into the records it stands for: each attempt of an attempts
// batch as an attempt record whose raw form is the attempt's own JSON, or the entry itself.
func decodeDeliveryRecords(t *testing.T, stream string, seq uint64, data []byte) []deliveryRecord {
	t.Helper()
	var batch struct {
		Type     string            `json:"type"`
		Attempts []json.RawMessage `json:"attempts"`
	}
	if err := json.Unmarshal(data, &batch); err != nil {
		t.Fatalf("%s #%d: %v: %s", stream, seq, err, data)
	}
	parts := []json.RawMessage{data}
	if batch.Type == string(hookstream.RecordAttempts) {
		parts = parts[:0]
		for _, a := range batch.Attempts {
			parts = append(parts, json.RawMessage(`{"type":"attempt","attempt":`+string(a)+`}`))
		}
	}
	out := make([]deliveryRecord, len(parts))
	for i, p := range parts {
		if err := json.Unmarshal(p, &out[i]); err != nil {
			t.Fatalf("%s #%d: %v: %s", stream, seq, err, p)
		}
		out[i].raw, out[i].seq = p, seq
		if out[i].Attempt != nil && out[i].Event == "" {
			out[i].Event = out[i].Attempt.Event
		}
	}
	return out
}

// identicalDuplicates counts stream messages whose content repeats another message's exactly: a step written
// twice.
func identicalDuplicates(records []deliveryRecord) (n int, examples []string) {
	seen := map[string]uint64{}
	for _, r := range records {
		if first, ok := seen[string(r.raw)]; ok {
			n++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("#%d repeats #%d: %s", r.seq, first, r.raw))
			}
			continue
		}
		seen[string(r.raw)] = r.seq
	}
	return n, examples
}

// quiescent reports whether the engine has nothing left to do: every event routed (the router consumer has
// nothing pending and nothing unacknowledged), no delivery task left, no retry scheduled or due. The
// description says what is left.
func quiescent(js jetstream.JetStream) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var left []string
	events, err := js.Stream(ctx, "HOOKSTREAM_EVENTS")
	if err != nil {
		return false, err.Error()
	}
	router, err := events.Consumer(ctx, "router")
	if err != nil {
		return false, err.Error()
	}
	ci, err := router.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	if ci.NumPending > 0 || ci.NumAckPending > 0 {
		left = append(left, fmt.Sprintf("router: %d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending))
	}
	for _, name := range []string{"HOOKSTREAM_DELIVERIES", "HOOKSTREAM_RETRIES"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		if info.State.Msgs > 0 {
			left = append(left, fmt.Sprintf("%s: %d messages", name, info.State.Msgs))
		}
	}
	return len(left) == 0, strings.Join(left, "; ")
}

// crashSink is the endpoint of TestCrashLosesNothing: it fails the first try of about a third of the events
// (chosen by a hash of webhook-id, so retries succeed), answers a few slowly, and counts requests and 2xx
// answers per webhook-id.
type crashSink struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests map[string]int
	ok       map[string]int
	dupAt    []time.Time // when each 2xx beyond an event's first was answered
}

func idHash(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32()
}

func newCrashSink(t *testing.T) *crashSink {
	s := &crashSink{requests: map[string]int{}, ok: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("Webhook-Id")
		h := idHash(id)
		s.mu.Lock()
		n := s.requests[id]
		s.requests[id]++
		status := http.StatusOK
		if n == 0 && h%3 == 0 {
			status = http.StatusInternalServerError
		} else {
			s.ok[id]++
			if s.ok[id] > 1 {
				s.dupAt = append(s.dupAt, time.Now())
			}
		}
		s.mu.Unlock()
		if n == 0 && h%256 == 7 {
			time.Sleep(250 * time.Millisecond) // a slow endpoint, well within --delivery-timeout
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// missing returns the locators of want that got no 2xx answer.
func (s *crashSink) missing(want []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, loc := range want {
		if s.ok[loc] == 0 {
			out = append(out, loc)
		}
	}
	return out
}

// duplicateTimes sorts the 2xx answers beyond an event's first by when they came, relative to the restart.
func (s *crashSink) duplicateTimes(killed, restarted time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var before, soon, mid, late int
	for _, at := range s.dupAt {
		switch d := at.Sub(restarted); {
		case at.Before(killed):
			before++
		case d < 2*time.Second:
			soon++
		case d < 10*time.Second:
			mid++
		default:
			late++
		}
	}
	return fmt.Sprintf("%d before the kill, %d within 2 s of the restart, %d at 2-10 s, %d at 10 s or later", before, soon, mid, late)
}

func (s *crashSink) snapshot() (requests, ok map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests), maps.Clone(s.ok)
}

// producedEvent identifies an event by the unique fields of its data.
type producedEvent struct {
	Src string `json:"src"`
	G   int    `json:"g"`
	I   int    `json:"i"`
}

// TestCrashLosesNothing SIGKILLs the engine while 16 producers publish over HTTP, a few more over NATS, and
// deliveries (with retries and divert on) are in flight; restarts it on the same data folder; and checks that
// every acknowledged event is stored and delivered, every delivery has its SUCCESS attempt record, every
// PENDING try ran or was cancelled, and no diverted record is written twice. Duplicates (at-least-once) are
// counted and reported.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, crashes it, and waits out its redeliveries")
	}
	t.Parallel()
	testStart := time.Now()
	sink := newCrashSink(t)
	e := newCrashEngine(t)
	e.start()
	var created struct {
		Locator string `json:"locator"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), map[string]any{
		"name": "crash", "endpoint": map[string]any{"url": sink.srv.URL + "/hook"},
		"failureHandling": map[string]any{"divert": true,
			"retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 2}},
	}), &created); err != nil || created.Locator == "" {
		t.Fatalf("create webhook: %v", err)
	}
	webhook := created.Locator
	_, js := e.natsClient()

	var (
		mu        sync.Mutex
		httpAcked = map[string]producedEvent{} // event locator → data, for every 202
		natsAcked = map[uint64]producedEvent{} // stream sequence → data, for every publish ack
		statuses  = map[string]int{}           // what the unacknowledged requests got
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	backoff := func() {
		select {
		case <-stop:
		case <-time.After(20 * time.Millisecond):
		}
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 32}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &contractTransport{t: t, next: transport}}
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"type":"policy.issue","data":{"src":"http","g":%d,"i":%d}}`, g, i)
				req, _ := http.NewRequest(http.MethodPost, e.url("/event/"+tenantA+"/events"), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					statuses["connection error"]++
					mu.Unlock()
					backoff()
					continue
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				var ev struct {
					Locator string        `json:"locator"`
					Data    producedEvent `json:"data"`
				}
				if err != nil || resp.StatusCode != http.StatusAccepted || json.Unmarshal(data, &ev) != nil || ev.Locator == "" {
					mu.Lock()
					statuses[fmt.Sprintf("status %d (%v)", resp.StatusCode, err)]++
					mu.Unlock()
					backoff()
					continue
				}
				if ev.Data != (producedEvent{Src: "http", G: g, I: i}) {
					t.Errorf("202 for g%d i%d names event %s with data %+v", g, i, ev.Locator, ev.Data)
				}
				mu.Lock()
				httpAcked[ev.Locator] = ev.Data
				mu.Unlock()
			}
		})
	}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				ack, err := js.Publish(ctx, "hookstream.events."+tenantA+".policy.issue",
					fmt.Appendf(nil, `{"src":"nats","g":%d,"i":%d}`, g, i))
				cancel()
				if err != nil {
					mu.Lock()
					statuses["nats publish error"]++
					mu.Unlock()
					backoff()
					continue
				}
				mu.Lock()
				natsAcked[ack.Sequence] = producedEvent{Src: "nats", G: g, I: i}
				mu.Unlock()
			}
		})
	}
	acked := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(httpAcked), len(natsAcked)
	}

	// Let the load run for a while with deliveries, failures and retries in flight, then pull the plug.
	loadStart := time.Now()
	<-time.After(1500 * time.Millisecond)
	for {
		h, n := acked()
		if reqs, _ := sink.snapshot(); h > 0 && n > 0 && len(reqs) > 0 {
			break
		}
		if time.Since(loadStart) > 30*time.Second {
			t.Fatalf("no load after 30 s: %d HTTP and %d NATS acks, engine output:\n%s", h, n, tail(e.runs[0].String(), 4000))
		}
		<-time.After(50 * time.Millisecond)
	}
	httpAtKill, natsAtKill := acked()
	reqsAtKill, okAtKill := sink.snapshot()
	e.kill()
	killedAt := time.Now()
	e.start()
	restartTook := time.Since(killedAt)

	// The producers go on against the restarted engine for a little while, then stop.
	resumed := time.Now()
	for {
		h, n := acked()
		if (h >= httpAtKill+500 && n > natsAtKill+100) || time.Since(resumed) > 3*time.Second {
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	httpTotal, natsTotal := len(httpAcked), len(natsAcked)
	mu.Unlock()

	// Every acknowledged event must be in the events stream where its ack said, with the data sent.
	stored := map[uint64]streamMsg{}
	for _, m := range readStream(t, js, "HOOKSTREAM_EVENTS") {
		stored[m.seq] = m
	}
	var want []string
	lostAtIngest := 0
	for loc, data := range httpAcked {
		seq, _ := hookstream.EventSeq(loc)
		m, ok := stored[seq]
		var got producedEvent
		if ok {
			_ = json.Unmarshal(m.data, &got)
		}
		if !ok || got != data || m.eventLocator() != loc {
			lostAtIngest++
			if lostAtIngest <= 10 {
				t.Errorf("HTTP-acknowledged event %s (%+v) not stored as acknowledged: stream has %v %s", loc, data, ok, m.data)
			}
		}
		want = append(want, loc)
	}
	for seq, data := range natsAcked {
		m, ok := stored[seq]
		var got producedEvent
		if ok {
			_ = json.Unmarshal(m.data, &got)
		}
		if !ok || got != data {
			lostAtIngest++
			if lostAtIngest <= 10 {
				t.Errorf("NATS-acknowledged event (seq %d, %+v) not stored: stream has %v %s", seq, data, ok, m.data)
			}
			continue
		}
		want = append(want, m.eventLocator())
	}
	if lostAtIngest > 0 {
		t.Errorf("%d acknowledged events are not in the events stream as acknowledged", lostAtIngest)
	}

	// Wait until every acknowledged event was delivered and the engine has nothing left to do.
	waitStart := time.Now()
	deadline := waitStart.Add(150 * time.Second)
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	var allDeliveredAfter time.Duration
	for {
		missing := sink.missing(want)
		if len(missing) == 0 && allDeliveredAfter == 0 {
			allDeliveredAfter = time.Since(killedAt)
		}
		quiet, left := quiescent(js)
		if len(missing) == 0 && quiet {
			break
		}
		if time.Now().After(deadline) {
			if len(missing) > 0 {
				t.Errorf("%d of %d acknowledged events never delivered (e.g. %v); engine still busy: %v %s",
					len(missing), len(want), missing[:min(len(missing), 10)], !quiet, left)
			} else {
				t.Errorf("engine never settled: %s", left)
			}
			break
		}
		<-poll.C
	}
	settledAfter := time.Since(killedAt)

	// Figures: acknowledged vs delivered, duplicates.
	requests, ok := sink.snapshot()
	delivered, duplicates, extraRequests := 0, 0, 0
	for _, loc := range want {
		if ok[loc] > 0 {
			delivered++
		}
	}
	for id, n := range ok {
		if n > 1 {
			duplicates += n - 1
		}
		extraRequests += requests[id] - 1
	}
	dupEvents := 0
	for _, n := range ok {
		if n > 1 {
			dupEvents++
		}
	}
	firstFailed := 0
	for id := range requests {
		if idHash(id)%3 == 0 {
			firstFailed++
		}
	}
	t.Logf("load %.1f s before the kill: %d events acknowledged (%d HTTP, %d NATS), endpoint had %d events (%d answered 2xx)",
		killedAt.Sub(loadStart).Seconds(), httpAtKill+natsAtKill, httpAtKill, natsAtKill, len(reqsAtKill), len(okAtKill))
	t.Logf("restart took %s; every acknowledged event delivered %s after the kill, engine settled after %s",
		restartTook.Round(time.Millisecond), allDeliveredAfter.Round(time.Millisecond), settledAfter.Round(time.Millisecond))
	t.Logf("acknowledged %d (HTTP %d, NATS %d), delivered %d of them; endpoint saw %d distinct events, %d answered 2xx",
		len(want), httpTotal, natsTotal, delivered, len(requests), len(ok))
	t.Logf("duplicates: %d extra 2xx deliveries over %d events (%s); %d requests beyond the first per event (%d events had a failing first try)",
		duplicates, dupEvents, sink.duplicateTimes(killedAt, resumed), extraRequests, firstFailed)
	mu.Lock()
	t.Logf("unacknowledged publish attempts: %v", statuses)
	mu.Unlock()

	// No attempt record lost: every event the endpoint accepted has a SUCCESS record.
	attempts, diverted, cancelled := readDeliveryRecords(t, js)
	success := map[string]bool{}
	byEvent := map[string][]string{}
	for _, r := range attempts {
		byEvent[r.Attempt.Event] = append(byEvent[r.Attempt.Event], fmt.Sprintf("#%d try %d %s/%d %s", r.seq, r.Attempt.Try,
			r.Attempt.Status, r.Attempt.StatusCode, r.Attempt.Locator))
		if r.Attempt.Status == hookstream.AttemptSuccess {
			success[r.Attempt.Event] = true
		}
	}
	var noSuccess []string
	for id := range ok {
		if !success[id] {
			noSuccess = append(noSuccess, id)
		}
	}
	slices.Sort(noSuccess)
	for _, id := range noSuccess[:min(len(noSuccess), 10)] {
		t.Errorf("event %s was accepted by the endpoint (%d requests, %d answered 2xx) but has no SUCCESS attempt record; its records: %v",
			id, requests[id], ok[id], byEvent[id])
	}
	if len(noSuccess) > 0 {
		t.Errorf("%d delivered events have no SUCCESS attempt record (lost attempt records)", len(noSuccess))
	}
	if n, examples := identicalDuplicates(attempts); n > 0 {
		t.Errorf("%d attempt records are written twice (identical content, distinct messages): %v", n, examples)
	}
	// Once the engine has settled, every PENDING try has run (an outcome under its locator) or was cancelled.
	// And no try has two outcomes: outcomes go out in batches without a message id per attempt, and a task that
	// comes back after the restart finds its recorded outcome in the views, which catch up before any task runs.
	outcome := map[string]bool{}
	var twice []string
	for _, r := range attempts {
		if r.Attempt.Status != hookstream.AttemptPending {
			if outcome[r.Attempt.Locator] {
				twice = append(twice, fmt.Sprintf("%s (event %s)", r.Attempt.Locator, r.Attempt.Event))
			}
			outcome[r.Attempt.Locator] = true
		}
	}
	if len(twice) > 0 {
		t.Errorf("%d tries have two outcome records, e.g. %v", len(twice), twice[:min(len(twice), 5)])
	}
	var dangling []string
	for _, r := range attempts {
		if r.Attempt.Status == hookstream.AttemptPending && !outcome[r.Attempt.Locator] && !cancelled[r.Attempt.Locator] {
			dangling = append(dangling, fmt.Sprintf("%s (event %s: %v)", r.Attempt.Locator, r.Attempt.Event, byEvent[r.Attempt.Event]))
		}
	}
	if len(dangling) > 0 {
		t.Errorf("%d PENDING tries never ran and were never cancelled, e.g. %v", len(dangling), dangling[:min(len(dangling), 5)])
	}
	t.Logf("attempt records: %d; delivered events with a SUCCESS record: %d of %d", len(attempts), len(ok)-len(noSuccess), len(ok))

	// Diverted records, if any, are not duplicated: in the stream, and in the API.
	divertedPerEvent := map[string]int{}
	for _, r := range diverted {
		divertedPerEvent[r.Event]++
	}
	for ev, n := range divertedPerEvent {
		if n > 1 {
			t.Errorf("event %s has %d diverted records", ev, n)
		}
	}
	var list []struct {
		EventLocator string `json:"eventLocator"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+webhook+"/diverted?count=1000"), nil), &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range list {
		if seen[d.EventLocator] {
			t.Errorf("GET diverted lists event %s twice", d.EventLocator)
		}
		seen[d.EventLocator] = true
	}
	t.Logf("diverted records: %d in the streams (%d events), %d listed by the API; test took %s",
		len(diverted), len(divertedPerEvent), len(list), time.Since(testStart).Round(time.Millisecond))
}

// TestCrashBetweenFinalFailureSteps kills the engine while it handles final failures (divert, suspend,
// alert) at several points, restarts it, and checks that each step is written exactly once for each event.
// The variants run at once, each on its own engine, since each waits out the redeliveries after its crash.
func TestCrashBetweenFinalFailureSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, crashes it, and waits out its redeliveries")
	}
	t.Parallel()
	var wg sync.WaitGroup
	for _, v := range []struct {
		name, killAt string
		suspend      bool
	}{
		{"before the endpoint answers", killBeforeAnswer, true},
		{"as the endpoint answers", killAtAnswer, true},
		{"right after the divert record", killAtDivert, true},
		{"right after the suspension", killAtSuspend, true},
		{"while the alert is sent", killAtAlert, true},
		// Without suspend, the task that runs again after the restart reaches the final failure again.
		{"right after the divert record, no suspend", killAtDivert, false},
	} {
		wg.Go(func() { t.Run(v.name, func(t *testing.T) { crashDuringFinalFailure(t, v.killAt, v.suspend) }) })
	}
	wg.Wait()
}

// Where crashDuringFinalFailure kills the engine: on the endpoint's first request, before answering it or
// right after; when the divert record or the webhook.suspended change is appended (seen by a NATS
// subscriber on the stream's subjects); or on the alert endpoint's first request, before answering it.
const (
	killBeforeAnswer = "endpoint request"
	killAtAnswer     = "endpoint answer"
	killAtDivert     = "divert record"
	killAtSuspend    = "suspension"
	killAtAlert      = "alert request"
)

// notice is a request to a test endpoint.
type notice struct {
	id   string
	body []byte
}

type noticeLog struct {
	mu  sync.Mutex
	got []notice
}

func (l *noticeLog) add(id string, body []byte) (first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, notice{id, body})
	return len(l.got) == 1
}

func (l *noticeLog) all() []notice {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

func crashDuringFinalFailure(t *testing.T, killAt string, suspend bool) {
	const events = 3
	tag := killAt // names the variant in messages
	if !suspend {
		tag += ", no suspend"
	}
	var (
		endpointLog, alertLog noticeLog
		published             = make(chan struct{})
		killNow               = make(chan struct{}, 1)
		killed                = make(chan struct{})
		quit                  = make(chan struct{})
		once                  sync.Once
	)
	waitPublished := func() {
		select {
		case <-published:
		case <-quit:
		}
	}
	// trigger asks the test goroutine to kill the engine (once); with block it waits until the engine is
	// dead, so the engine never gets the answer of the request being handled.
	trigger := func(block bool) {
		once.Do(func() { killNow <- struct{}{} })
		if block {
			select {
			case <-killed:
			case <-quit:
			}
		}
	}
	var healthy atomic.Bool // set once the crash's outcome is checked, to see what an unsuspend sends
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		first := endpointLog.add(r.Header.Get("Webhook-Id"), body)
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		// No final failure before every event is acknowledged: each must come out diverted or held.
		waitPublished()
		if first && killAt == killBeforeAnswer {
			trigger(true)
		}
		answer := []byte(`{"error":"down"}`)
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(answer)
		w.(http.Flusher).Flush()
		if first && killAt == killAtAnswer {
			trigger(false)
		}
	}))
	alerts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if alertLog.add(r.Header.Get("Webhook-Id"), body) && killAt == killAtAlert {
			trigger(true)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(endpoint.Close)
	t.Cleanup(alerts.Close)
	t.Cleanup(func() { close(quit) }) // runs first: no handler stays blocked

	e := newCrashEngine(t)
	e.start()
	var created struct {
		Locator string `json:"locator"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), map[string]any{
		"name": "final", "endpoint": map[string]any{"url": endpoint.URL + "/hook"},
		"failureHandling": map[string]any{"divert": true, "suspend": suspend,
			"alertEndpoint": map[string]any{"url": alerts.URL + "/alerts"}},
	}), &created); err != nil || created.Locator == "" {
		t.Fatalf("create webhook: %v", err)
	}
	webhook := created.Locator

	// A plain NATS subscriber sees each step as it is appended to its stream.
	nc, js := e.natsClient()
	onStep := func(subject string, match func(*nats.Msg) bool) {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			if match(m) {
				trigger(false)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	isDiverted := func(m *nats.Msg) bool {
		var r struct {
			Type string `json:"type"`
		}
		return json.Unmarshal(m.Data, &r) == nil && r.Type == string(hookstream.RecordDiverted)
	}
	switch killAt {
	case killAtDivert:
		onStep("hookstream.diverted.>", isDiverted)
		onStep("hookstream.attempts.>", isDiverted)
	case killAtSuspend:
		onStep("hookstream.webhooks."+tenantA+"."+webhook, func(m *nats.Msg) bool {
			return m.Header.Get(broker.HeaderEventType) == hookstream.WebhookSuspended
		})
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	var locators []string
	for i := range events {
		var ev struct {
			Locator string `json:"locator"`
		}
		if err := json.Unmarshal(e.must(http.StatusAccepted, http.MethodPost, "/event/"+tenantA+"/events",
			map[string]any{"type": "policy.issue", "data": map[string]any{"i": i}}), &ev); err != nil {
			t.Fatal(err)
		}
		locators = append(locators, ev.Locator)
	}
	close(published)
	select {
	case <-killNow:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", killAt)
	}
	e.kill()
	close(killed)
	beforeRestart := len(endpointLog.all())
	killedAt := time.Now()
	e.start()

	// Settle: every event routed, every task done. Then each event must be diverted or held.
	deadline := time.Now().Add(120 * time.Second)
	for {
		quiet, left := quiescent(js)
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine never settled after the restart: %s", left)
		}
		<-time.After(100 * time.Millisecond)
	}
	settledAfter := time.Since(killedAt)

	attempts, diverted, _ := readDeliveryRecords(t, js)
	held := map[string]int{}
	heldAt := map[string][]string{} // when each hold was appended, relative to the kill
	for _, m := range readStream(t, js, "HOOKSTREAM_HELD") {
		ev := m.header.Get("Hookstream-Event")
		held[ev]++
		heldAt[ev] = append(heldAt[ev], m.stored.Sub(killedAt).Round(time.Millisecond).String())
	}
	divertedPer := map[string][]deliveryRecord{}
	for _, r := range diverted {
		divertedPer[r.Event] = append(divertedPer[r.Event], r)
	}
	attemptPer := map[string][]deliveryRecord{}
	for _, r := range attempts {
		attemptPer[r.Attempt.Event] = append(attemptPer[r.Attempt.Event], r)
	}
	alertsPer := map[string][]string{}
	for _, n := range alertLog.all() {
		var a struct {
			Type  string `json:"type"`
			Event string `json:"eventLocator"`
		}
		if err := json.Unmarshal(n.body, &a); err != nil || a.Type != hookstream.AlertType {
			t.Errorf("[killed at the %s] alert endpoint got %s", tag, n.body)
			continue
		}
		alertsPer[a.Event] = append(alertsPer[a.Event], n.id)
	}
	requestsPer := map[string]int{}
	for _, n := range endpointLog.all() {
		requestsPer[n.id]++
	}

	var heldAndDiverted []string
	for _, ev := range locators {
		var outcomes []string
		for _, r := range attemptPer[ev] {
			outcomes = append(outcomes, string(r.Attempt.Status)+"/"+strconv.Itoa(r.Attempt.StatusCode)+" "+r.Attempt.Locator)
		}
		t.Logf("[killed at the %s] event %s: %d endpoint requests, attempt records %v, %d diverted records, alerts (webhook-ids) %v, held %d (at %v from the kill)",
			tag, ev, requestsPer[ev], outcomes, len(divertedPer[ev]), alertsPer[ev], held[ev], heldAt[ev])
		d := divertedPer[ev]
		switch {
		case len(d) > 1:
			t.Errorf("[killed at the %s] event %s: %d diverted records, want exactly one", tag, ev, len(d))
		case len(d) == 0 && held[ev] == 0:
			t.Errorf("[killed at the %s] event %s is lost: neither diverted nor held", tag, ev)
		case len(d) == 0 && len(alertsPer[ev]) > 0:
			t.Errorf("[killed at the %s] event %s: alerted %d times but not diverted", tag, ev, len(alertsPer[ev]))
		}
		if len(d) == 0 {
			continue
		}
		// A kill while an alert request is in flight (SIGKILL lands a few milliseconds after the step that
		// triggers it, so the alert may already be on its way) cannot be exactly once over HTTP: the notice
		// is sent again with the same webhook-id, for the receiver to dedupe. What must hold: at least one,
		// and never two different notices.
		if n := len(alertsPer[ev]); n == 0 || !sameIDs(alertsPer[ev]) {
			t.Errorf("[killed at the %s] event %s: the alert endpoint got %d notices for it, want exactly one (webhook-ids %v)", tag, ev, n, alertsPer[ev])
		}
		// The diverted record names the attempt that failed; that attempt's record must be there.
		found := false
		for _, r := range attemptPer[ev] {
			if r.Attempt.Locator == d[0].Diverted.RequestLocator && r.Attempt.Status == hookstream.AttemptFailed {
				found = true
			}
		}
		if !found {
			t.Errorf("[killed at the %s] event %s: diverted after attempt %s, but the attempts stream has no FAILED record of it: %v", tag,
				ev, d[0].Diverted.RequestLocator, outcomes)
		}
		// A diverted event's final failure is over. It may be held as well (a router whose ack the crash lost
		// routes it again while its redelivered task is still being tried); the unsuspend below checks that
		// the release does not send it again.
		if held[ev] > 0 {
			heldAndDiverted = append(heldAndDiverted, ev)
		}
	}
	if n, examples := identicalDuplicates(attempts); n > 0 {
		t.Errorf("[killed at the %s] %d attempt records are written twice (identical content): %v", tag, n, examples)
	}
	if n, examples := identicalDuplicates(diverted); n > 0 {
		t.Errorf("[killed at the %s] %d diverted records are written twice (identical content): %v", tag, n, examples)
	}
	perLocator := map[string]int{}
	for _, r := range attempts {
		perLocator[r.Attempt.Locator]++
	}
	for loc, n := range perLocator {
		if n > 1 {
			t.Logf("[killed at the %s] attempt %s has %d records with differing content", tag, loc, n)
		}
	}

	// The API agrees: each diverted event once.
	var list []struct {
		EventLocator string `json:"eventLocator"`
	}
	eventually(t, 10*time.Second, "the diverted view to show every diverted event", func() bool {
		if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+webhook+"/diverted"), nil), &list); err != nil {
			t.Fatal(err)
		}
		return len(list) >= len(divertedPer)
	})
	listed := map[string]int{}
	for _, d := range list {
		listed[d.EventLocator]++
	}
	for ev, n := range listed {
		if n != 1 || len(divertedPer[ev]) == 0 {
			t.Errorf("[killed at the %s] GET diverted lists event %s %d times (diverted records in the stream: %d)", tag, ev, n, len(divertedPer[ev]))
		}
	}

	// Suspended exactly once, by the system.
	var history struct {
		Items []struct {
			Type  string `json:"type"`
			Actor string `json:"actor"`
		} `json:"items"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+webhook+"/history"), nil), &history); err != nil {
		t.Fatal(err)
	}
	var types []string
	suspensions := 0
	for _, it := range history.Items {
		types = append(types, it.Type+"/"+it.Actor)
		if it.Type == "webhook.suspended" {
			suspensions++
		}
	}
	if want := map[bool]int{true: 1, false: 0}[suspend]; suspensions != want {
		t.Errorf("[killed at the %s] history has %d webhook.suspended entries, want %d: %v", tag, suspensions, want, types)
	}
	t.Logf("killed at the %s: endpoint had %d requests at the kill, %d in all; alerts %d; settled %s after the kill",
		tag, beforeRestart, len(endpointLog.all()), len(alertLog.all()), settledAfter.Round(time.Millisecond))

	if suspend {
		// The endpoint recovers and the webhook is unsuspended: every held event is released, and an event
		// whose final failure was handled already is not sent again.
		healthy.Store(true)
		e.must(http.StatusNoContent, http.MethodPatch, wpath(tenantA, "/"+webhook+"/unsuspend"), nil)
		eventually(t, 60*time.Second, "every held event released", func() bool {
			quiet, _ := quiescent(js)
			s, err := js.Stream(context.Background(), "HOOKSTREAM_HELD")
			return quiet && err == nil && s.CachedInfo().State.Msgs == 0
		})
		after := map[string]int{}
		for _, n := range endpointLog.all() {
			after[n.id]++
		}
		for ev := range divertedPer {
			if after[ev] != requestsPer[ev] {
				t.Errorf("[killed at the %s] diverted event %s (held too: %v) was sent again on unsuspend: %d requests, %d before",
					tag, ev, slices.Contains(heldAndDiverted, ev), after[ev], requestsPer[ev])
			}
		}
		if len(heldAndDiverted) > 0 {
			t.Logf("[killed at the %s] diverted and held, not sent again on unsuspend: %v", tag, heldAndDiverted)
		}
	}
}

// sameIDs reports whether every webhook-id in ids is the same one.
func sameIDs(ids []string) bool {
	for _, id := range ids {
		if id != ids[0] {
			return false
		}
	}
	return true
}
