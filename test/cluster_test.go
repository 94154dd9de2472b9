package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATSCluster starts a 3-node JetStream cluster in-process, each node on its own loopback ports and
// folder, and waits until it has a JetStream meta leader.
func startNATSCluster(t testing.TB) []*server.Server {
	t.Helper()
	var clusterAddrs []string
	for range 3 {
		clusterAddrs = append(clusterAddrs, freePort(t))
	}
	var nodes []*server.Server
	for i := range 3 {
		var routes []string
		for j, a := range clusterAddrs {
			if j != i {
				routes = append(routes, "nats://"+a)
			}
		}
		host, port := splitHostPort(t, clusterAddrs[i])
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "hookstream-test", Host: host, Port: port},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		nodes = append(nodes, ns)
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	}
	for _, ns := range nodes {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatal("cluster node not ready")
		}
	}
	nc, err := nats.Connect(clusterURLs(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	eventually(t, 30*time.Second, "a JetStream meta leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return nodes
}

func clusterURLs(nodes []*server.Server) string {
	var urls []string
	for _, ns := range nodes {
		urls = append(urls, ns.ClientURL())
	}
	return strings.Join(urls, ",")
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	var port int
	i := strings.LastIndex(addr, ":")
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

// clusterInstance is one hookstream binary on the cluster.
type clusterInstance struct {
	cmd  *exec.Cmd
	c    binaryClient
	done chan error
	data string
}

func startInstance(t *testing.T, urls, data string) *clusterInstance {
	t.Helper()
	return startInstanceWith(t, urls, data, "--replicas", "3")
}

// startInstanceWith starts `serve` on the NATS at urls with more flags, and waits until it is ready.
func startInstanceWith(t *testing.T, urls, data string, flags ...string) *clusterInstance {
	t.Helper()
	httpAddr := freePort(t)
	args := append([]string{"serve", "--http", httpAddr, "--data", data, "--nats", urls,
		"--allow-private-destinations", "--delivery-timeout", "1s"}, flags...)
	cmd, out, done := startBinary(t, args...)
	c := binaryClient{t: t, base: "http://" + httpAddr}
	eventually(t, 60*time.Second, "instance ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("instance exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := checkedClient(t, 5*time.Second).Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &clusterInstance{cmd: cmd, c: c, done: done, data: data}
}

// distinctIDs returns the events the receiver accepted (answered 200) at least once.
func distinctIDs(rc *receiver) map[string]bool {
	ids := map[string]bool{}
	for _, r := range rc.requests() {
		if r.status == http.StatusOK {
			ids[r.header.Get("Webhook-Id")] = true
		}
	}
	return ids
}

// duplicateDeliveries counts successful deliveries beyond one per event (at-least-once at work).
func duplicateDeliveries(rc *receiver) int {
	ok := map[string]int{}
	for _, r := range rc.requests() {
		if r.status == http.StatusOK {
			ok[r.header.Get("Webhook-Id")]++
		}
	}
	dups := 0
	for _, n := range ok {
		dups += n - 1
	}
	return dups
}

// readStreamRecords reads every message of a stream by sequence, as an auditor would.
func readStreamRecords(t *testing.T, js jetstream.JetStream, name string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		for try := 0; err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && try < 20; try++ {
			time.Sleep(50 * time.Millisecond) // the stream's leader may be moving after the node loss
			m, err = s.GetMsg(ctx, seq)
		}
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // a deleted sequence
		}
		if err != nil {
			t.Fatalf("read %s seq %d: %v", name, seq, err)
		}
		var rec map[string]any
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, records(rec)...)
	}
	return out
}

func TestClusterSurvivesLosingAnInstanceAndANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and two instances")
	}
	nodes := startNATSCluster(t)
	urls := clusterURLs(nodes)
	a := startInstance(t, urls, t.TempDir())
	b := startInstance(t, urls, t.TempDir())

	rc := newReceiver(t)
	failFirst := func(id string) bool {
		f := fnv.New32a()
		_, _ = f.Write([]byte(id))
		return f.Sum32()%3 == 0
	}
	var mu sync.Mutex
	tries := map[string]int{}
	rc.setAnswerFor(func(h http.Header) int {
		id := h.Get("Webhook-Id")
		mu.Lock()
		defer mu.Unlock()
		tries[id]++
		if tries[id] == 1 && failFirst(id) {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})

	// Read-your-writes on A; visible on B within a bounded delay.
	status, body := a.c.do(http.MethodPost, wpath(tenantA, ""), retryBody(rc.url("/c"), map[string]any{
		"divert": true, "retryStrategy": map[string]any{"type": "linear", "interval": 1, "attempts": 2},
	}))
	if status != http.StatusOK {
		t.Fatalf("create via A: %d %s", status, body)
	}
	var wh struct{ Locator string }
	_ = json.Unmarshal(body, &wh)
	created := time.Now()
	if status, _ := a.c.do(http.MethodGet, wpath(tenantA, "/"+wh.Locator), nil); status != http.StatusOK {
		t.Fatalf("read-your-writes on A: %d", status)
	}
	eventually(t, 10*time.Second, "the webhook visible on B", func() bool {
		status, _ := b.c.do(http.MethodGet, wpath(tenantA, "/"+wh.Locator), nil)
		return status == http.StatusOK
	})
	t.Logf("cross-instance read delay: %s", time.Since(created))

	// Concurrent PATCHes through both instances lose nothing.
	var wg sync.WaitGroup
	for i := range 40 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		wg.Go(func() {
			if status, body := inst.c.do(http.MethodPatch, wpath(tenantA, "/"+wh.Locator), map[string]any{"addEventTypes": []string{fmt.Sprintf("t.n%d", i)}}); status != http.StatusOK {
				t.Errorf("patch %d: %d %s", i, status, body)
			}
		})
	}
	wg.Wait()
	var got struct{ EventTypes []string }
	eventually(t, 10*time.Second, "all 40 types on both instances", func() bool {
		for _, inst := range []*clusterInstance{a, b} {
			_, body := inst.c.do(http.MethodGet, wpath(tenantA, "/"+wh.Locator), nil)
			_ = json.Unmarshal(body, &got)
			if len(got.EventTypes) != 40 {
				return false
			}
		}
		return true
	})
	// Back to every type for the load.
	a.c.do(http.MethodPatch, wpath(tenantA, "/"+wh.Locator), map[string]any{"removeEventTypes": got.EventTypes})

	// Load: events published to the cluster; midway, lose instance A (SIGKILL) and NATS node 3.
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	const events = 2000
	acked := map[uint64]bool{}
	var ackMu sync.Mutex
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ack, err := js.Publish(ctx, "hookstream.events."+tenantA+".load.event", fmt.Appendf(nil, `{"i":%d}`, i),
				jetstream.WithMsgID(fmt.Sprintf("load-%d", i)), jetstream.WithRetryAttempts(20))
			cancel()
			if err == nil {
				ackMu.Lock()
				acked[ack.Sequence] = true
				ackMu.Unlock()
			}
		}
	}
	start := time.Now()
	publish(0, events/2)
	rc.waitFor(t, events/4, 60*time.Second)
	t.Logf("first half published, a quarter delivered: %s", time.Since(start))
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	a.done <- nil
	nodes[2].Shutdown()
	publish(events/2, events)

	t.Logf("second half published after the losses: %s", time.Since(start))
	eventually(t, 120*time.Second, "every acknowledged event delivered", func() bool {
		return len(distinctIDs(rc)) >= len(acked)
	})
	t.Logf("all delivered: %s", time.Since(start))
	ids := distinctIDs(rc)
	t.Logf("cluster run: %d events acknowledged, %d delivered, %d requests (%d duplicates beyond retries)",
		len(acked), len(ids), len(rc.requests()), duplicateDeliveries(rc))

	// The killed instance comes back, catches up, and both views agree.
	a = startInstance(t, clusterURLs(nodes[:2]), a.data)
	paths := []string{wpath(tenantA, "/"+wh.Locator), wpath(tenantA, "/"+wh.Locator+"/history"), wpath(tenantA, "/"+wh.Locator+"/diverted?count=1000"),
		"/event/" + tenantA + "/events/list?pageSize=1000"}
	eventually(t, 30*time.Second, "both instances' views agree", func() bool {
		for _, p := range paths {
			_, ba := a.c.do(http.MethodGet, p, nil)
			_, bb := b.c.do(http.MethodGet, p, nil)
			if string(ba) != string(bb) {
				return false
			}
		}
		return true
	})
	// No attempt record is lost: every delivered event has a SUCCESS record.
	live, err := nats.Connect(clusterURLs(nodes[:2]))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveJS, _ := jetstream.New(live)
	// Records follow deliveries: a delivery whose instance died before recording it is delivered again (and
	// recorded) by the other once the task's ack wait has passed.
	var missing []string
	eventually(t, 40*time.Second, "a SUCCESS record for every delivered event", func() bool {
		success := map[string]bool{}
		for _, rec := range readStreamRecords(t, liveJS, "HOOKSTREAM_ATTEMPTS") {
			if at, ok := rec["attempt"].(map[string]any); ok && at["status"] == "SUCCESS" {
				success[at["event"].(string)] = true
			}
		}
		missing = missing[:0]
		for id := range ids {
			if !success[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
}
