package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// binaryClient drives a hookstream binary over HTTP.
type binaryClient struct {
	t    *testing.T
	base string
}

func (c binaryClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	data, _ := json.Marshal(body)
	if body == nil {
		data = nil
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := checkedClient(c.t, time.Minute).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func serveBinary(t *testing.T, data string) (*exec.Cmd, binaryClient, chan error) {
	t.Helper()
	httpAddr := freePort(t)
	cmd, out, done := startBinary(t, "serve", "--http", httpAddr, "--data", data, "--nats-listen", freePort(t),
		"--allow-private-destinations", "--delivery-timeout", "1s")
	c := binaryClient{t: t, base: "http://" + httpAddr}
	eventually(t, 30*time.Second, "readyz", func() bool {
		resp, err := checkedClient(t, 5*time.Second).Get(c.base + "/readyz")
		if err != nil {
			select {
			case err := <-done:
				t.Fatalf("serve exited: %v\n%s", err, out.String())
			default:
			}
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return cmd, c, done
}

func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOOKSTREAM_ADMIN_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRebuildAndVerifyAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	data := t.TempDir()
	rc := newReceiver(t)
	cmd, c, done := serveBinary(t, data)
	var locs []string
	for i := range 5 {
		// One webhook carries every delivery option, so their views must rebuild identically too.
		var options map[string]any
		if i == 0 {
			options = map[string]any{"filter": map[string]any{"data.i": map[string]any{"$lt": 10}}, "ordering": "fifo",
				"failureHandling": map[string]any{"retryStrategy": map[string]any{"type": "exponential", "interval": 1, "attempts": 2, "jitter": 0.3}}}
		}
		status, body := c.do(http.MethodPost, wpath(tenantA, ""), webhookBody(fmt.Sprint("w", i), rc.url(fmt.Sprint("/", i)), options))
		if status != http.StatusOK {
			t.Fatalf("create: %d %s", status, body)
		}
		var w struct{ Locator string }
		_ = json.Unmarshal(body, &w)
		locs = append(locs, w.Locator)
	}
	for i := range 20 {
		if status, body := c.do(http.MethodPost, "/event/"+tenantA+"/events", map[string]any{"type": "a.b", "data": map[string]int{"i": i}}); status != http.StatusAccepted {
			t.Fatalf("publish: %d %s", status, body)
		}
	}
	rc.waitFor(t, 50, 20*time.Second)
	_ = cmd.Process.Kill() // SIGKILL, mid-flight as far as the views know
	<-done
	done <- nil

	// After the crash the server catches up by itself; stop it cleanly and verify its views.
	cmd, c, done = serveBinary(t, data)
	snapshot := map[string]string{}
	paths := []string{wpath(tenantA, "/list?extended=true"), "/event/" + tenantA + "/events/list?pageSize=1000"}
	for _, l := range locs {
		paths = append(paths, wpath(tenantA, "/"+l+"/history"))
	}
	for _, p := range paths {
		_, body := c.do(http.MethodGet, p, nil)
		snapshot[p] = string(body)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-done
	done <- nil

	if out, err := runBinary(t, "rebuild", "--verify", "--data", data); err != nil || !strings.Contains(out, "views match") {
		t.Fatalf("verify after the crash: %v\n%s", err, out)
	}
	// A tampered view is caught, and a rebuild mends it.
	db, err := bolt.Open(filepath.Join(data, "views.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("webhooks")).Put([]byte(tenantA+"/"+locs[0]), []byte(`{"tampered":true}`))
	})
	db.Close()
	out, err := runBinary(t, "rebuild", "--verify", "--data", data)
	if err == nil || !strings.Contains(out, "differs") {
		t.Fatalf("verify missed a tampered view: %v\n%s", err, out)
	}
	if out, err := runBinary(t, "rebuild", "--data", data); err != nil || !strings.Contains(out, "messages/s") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	cmd, c, done = serveBinary(t, data)
	for _, p := range paths {
		if _, body := c.do(http.MethodGet, p, nil); string(body) != snapshot[p] {
			t.Errorf("%s after rebuild:\n%s\nbefore:\n%s", p, body, snapshot[p])
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-done
	done <- nil
}
