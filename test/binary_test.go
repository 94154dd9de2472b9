package test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binary builds cmd/hookstream once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hookstream-bin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "hookstream")
	out, err := exec.Command("go", "build", "-o", path, "../cmd/hookstream").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return path, nil
})

// nextPort hands out candidate ports below the kernel's ephemeral range (32768 and up), so a port given to
// a binary is never also handed by the kernel to an httptest server or a client connection of a test
// running in parallel between the check and the binary's bind. Each test process starts at its own offset.
var nextPort atomic.Int64

func freePort(t testing.TB) string {
	t.Helper()
	nextPort.CompareAndSwap(0, int64(20000+os.Getpid()%6000))
	for range 2000 {
		port := nextPort.Add(1)
		if port >= 32000 {
			nextPort.Store(20000)
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startBinary(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	return startBinaryWithEnv(t, nil, args...)
}

// startBinaryWithEnv is startBinary with more environment variables (KEY=value) for the process; GOGC and
// GOMEMLIMIT are left out unless given, so that the test's own do not leak into it.
func startBinaryWithEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, env...), "HOOKSTREAM_ADMIN_TOKEN="+adminToken)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, out, done
}

func TestServeStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	httpAddr := freePort(t)
	cmd, out, done := startBinary(t, "serve", "--http", httpAddr, "--data", t.TempDir(), "--nats-listen", freePort(t))
	eventually(t, 30*time.Second, "readyz", func() bool {
		resp, err := checkedClient(t, 5*time.Second).Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM\n%s", out.String())
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Fatalf("no clean-stop log line:\n%s", out.String())
	}
}

func TestBusyPortsFailFast(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, args := range map[string][]string{
		"http": {"serve", "--http", busy.Addr().String(), "--data", t.TempDir(), "--nats-listen", freePort(t)},
		"nats": {"serve", "--http", freePort(t), "--data", t.TempDir(), "--nats-listen", busy.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			_, out, done := startBinary(t, args...)
			select {
			case err := <-done:
				done <- err
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("exit %v, want non-zero\n%s", err, out.String())
				}
				if !strings.Contains(out.String(), busy.Addr().String()) || !strings.Contains(out.String(), "not available") {
					t.Fatalf("error does not name the busy address:\n%s", out.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("hung on a busy %s port\n%s", name, out.String())
			}
		})
	}
}

// TestServeSetsGoRuntimeTargets checks that serve sets the GC target and the soft memory limit from its
// flags, and leaves them to GOGC and GOMEMLIMIT when those are set, as the Go runtime itself reports them.
func TestServeSetsGoRuntimeTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, c := range []struct {
		name     string
		flags    []string
		env      []string
		gogc     float64
		memLimit float64
	}{
		{name: "defaults", gogc: 50, memLimit: math.MaxInt64},
		{name: "flags", flags: []string{"--gc-percent", "80", "--memory-limit", "1GiB"}, gogc: 80, memLimit: 1 << 30},
		{name: "environment wins", flags: []string{"--gc-percent", "80", "--memory-limit", "1GiB"},
			env: []string{"GOGC=120", "GOMEMLIMIT=200MiB"}, gogc: 120, memLimit: 200 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			httpAddr := freePort(t)
			args := append([]string{"serve", "--http", httpAddr, "--data", t.TempDir(), "--nats-listen", freePort(t)}, c.flags...)
			startBinaryWithEnv(t, c.env, args...)
			var metrics string
			eventually(t, 30*time.Second, "metrics", func() bool {
				req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/metrics", nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := checkedClient(t, 5*time.Second).Do(req)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				metrics = string(body)
				return err == nil && resp.StatusCode == http.StatusOK
			})
			if got := metricValue(t, metrics, "go_gc_gogc_percent"); got != c.gogc {
				t.Errorf("GC target %g, want %g", got, c.gogc)
			}
			if got := metricValue(t, metrics, "go_gc_gomemlimit_bytes"); got != c.memLimit {
				t.Errorf("memory limit %g, want %g", got, c.memLimit)
			}
		})
	}
}
