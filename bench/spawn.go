package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// child is a `hookstream serve` the bench started as a process of its own, so that the memory and CPU read
// for it (from /proc) are the engine's alone, apart from the bench's publisher and receiver.
type child struct {
	cmd  *exec.Cmd
	dir  string
	log  string // the child's stderr, kept for an error that needs it
	done chan error
}

// spawn starts serve from the binary at path with the bench's engine settings on free loopback ports in a
// temporary folder, and waits until it is ready. extra are more serve flags.
func spawn(ctx context.Context, path string, o *Options) (_ *child, httpURL, natsURL, token string, err error) {
	dir, err := os.MkdirTemp("", "hookstream-bench-*")
	if err != nil {
		return nil, "", "", "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", "", "", err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	token = "adm_bench_" + hex.EncodeToString(secret)
	args := []string{"serve", "--http", "127.0.0.1:" + ports[0], "--nats-listen", "127.0.0.1:" + ports[1], "--data", filepath.Join(dir, "data"),
		"--allow-private-destinations", "--log-level", "warn", "--subject-prefix", o.SubjectPrefix, "--sync", o.Sync,
		"--max-in-flight", strconv.Itoa(o.MaxInFlight), "--max-in-flight-per-endpoint", strconv.Itoa(o.MaxInFlightPerEndpoint)}
	if o.GCPercent > 0 {
		args = append(args, "--gc-percent", strconv.Itoa(o.GCPercent))
	}
	if o.Pprof != "" {
		args = append(args, "--pprof", o.Pprof)
	}
	args = append(args, o.ServeArgs...)
	c := &child{dir: dir, log: filepath.Join(dir, "serve.log"), done: make(chan error, 1)}
	logFile, err := os.Create(c.log)
	if err != nil {
		return nil, "", "", "", err
	}
	defer logFile.Close()
	c.cmd = exec.Command(path, args...)
	c.cmd.Env = append(os.Environ(), "HOOKSTREAM_ADMIN_TOKEN="+token)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		return nil, "", "", "", fmt.Errorf("start %s serve: %w", path, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	httpURL, natsURL = "http://127.0.0.1:"+ports[0], "nats://127.0.0.1:"+ports[1]
	if err := c.waitReady(ctx, httpURL); err != nil {
		_ = c.stop()
		return nil, "", "", "", fmt.Errorf("spawned serve: %w\n%s", err, c.tail())
	}
	return c, httpURL, natsURL, token, nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var ports []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

func (c *child) waitReady(ctx context.Context, base string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("not ready within a minute")
		}
	}
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// tail returns the end of the child's log.
func (c *child) tail() string {
	data, _ := os.ReadFile(c.log)
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return string(bytes.TrimSpace(data))
}

// stop ends the child as an operator would (SIGTERM, then SIGKILL after 30 s) and removes its folder.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		err = <-c.done
		err = fmt.Errorf("spawned serve did not stop within 30 s of SIGTERM (killed): %v", err)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("spawned serve exited with %v\n%s", exit, c.tail())
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
