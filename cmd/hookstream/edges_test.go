package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// entries lists a folder's contents, or nil when it does not exist.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestRebuildRefusesAFolderWithoutAStore(t *testing.T) {
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "none")
	for _, dir := range []string{empty, missing} {
		for _, verify := range [][]string{nil, {"--verify"}} {
			var out, errOut bytes.Buffer
			code := run(append([]string{"rebuild", "--data", dir}, verify...), &out, &errOut, noEnv)
			if code == 0 || !strings.Contains(errOut.String(), dir) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("rebuild %s %v: exit %d, stderr %q; want one line naming the folder", dir, verify, code, errOut.String())
			}
			if out.Len() != 0 {
				t.Errorf("rebuild %s %v: stdout %q", dir, verify, out.String())
			}
		}
	}
	if got := entries(t, empty); len(got) != 0 {
		t.Errorf("rebuild created %v in the empty folder", got)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("rebuild created the missing folder (stat: %v)", err)
	}

	// A store without views: --verify has nothing to compare, and says so once.
	e := startReplayEngine(t)
	e.stop()
	if err := os.Remove(filepath.Join(e.cfg.Data, "views.db")); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"rebuild", "--data", e.cfg.Data, "--verify"}, &out, &errOut, noEnv)
	if code != 1 || strings.Count(errOut.String(), "views.db") != 1 || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("verify without views: exit %d, stderr %q; want one line naming views.db once", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Data, "views.db")); !os.IsNotExist(err) {
		t.Errorf("verify created views.db (stat: %v)", err)
	}
}

// TestServeReportsAnUnwritableDataFolderAtOnce checks the write probe: the cause comes out at once, not after
// the embedded server's start-up wait.
func TestServeReportsAnUnwritableDataFolderAtOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	natsIsAFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(natsIsAFile, "nats"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := t.TempDir()
	cases := map[string]struct{ data, want string }{
		"nats/ is a file":     {natsIsAFile, filepath.Join(natsIsAFile, "nats")},
		"data under a file":   {filepath.Join(file, "data"), file},
		"folder not writable": {readOnly, "permission denied"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.data == readOnly {
				if os.Geteuid() == 0 {
					t.Skip("running as root, which permission bits do not stop; the other cases cover the probe")
				}
				if err := os.Chmod(readOnly, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.Chmod(readOnly, 0o700) })
			}
			var out, errOut bytes.Buffer
			start := time.Now()
			code := run([]string{"serve", "--data", tc.data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-level", "warn"},
				&out, &errOut, env(map[string]string{"HOOKSTREAM_ADMIN_TOKEN": "adm_cli_test_token_0123"}))
			if code != 1 || !strings.Contains(errOut.String(), "cannot be written") || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want the cause naming %q", code, errOut.String(), tc.want)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %s to report", elapsed)
			}
			if strings.Contains(errOut.String(), "did not become ready") {
				t.Errorf("reported as a server start-up failure: %q", errOut.String())
			}
		})
	}
}

// TestRebuildIsQuietWithOneRate checks that rebuild prints neither the embedded server's banner nor a second
// rate.
func TestRebuildIsQuietWithOneRate(t *testing.T) {
	e := startReplayEngine(t)
	for range 3 {
		var out, errOut bytes.Buffer
		if code := run([]string{"publish", "--nats", e.NATSURL(), "--tenant", tenant, "--type", "policy.issue", "--data", `{}`},
			&out, &errOut, noEnv); code != 0 {
			t.Fatalf("publish: exit %d: %s", code, errOut.String())
		}
	}
	e.stop()
	for _, args := range [][]string{{"rebuild", "--data", e.cfg.Data}, {"rebuild", "--data", e.cfg.Data, "--verify"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut, noEnv); code != 0 {
			t.Fatalf("%v: exit %d: %s%s", args, code, out.String(), errOut.String())
		}
		all := out.String() + errOut.String()
		if strings.Contains(all, "nats-server") || strings.Count(all, "\n") > 3 {
			t.Errorf("%v: not quiet:\n%s", args, all)
		}
		if n := strings.Count(all, "/s"); n != 1 {
			t.Errorf("%v: %d rates, want one:\n%s", args, n, all)
		}
	}
}

func TestBadFlagIsReportedOnceWithAHint(t *testing.T) {
	for _, cmd := range []string{"serve", "rebuild", "publish", "replay", "bench"} {
		var out, errOut bytes.Buffer
		code := run([]string{cmd, "--no-such-flag"}, &out, &errOut, noEnv)
		want := "hookstream " + cmd + ": flag provided but not defined: -no-such-flag\nrun 'hookstream " + cmd + " -h' for usage\n"
		if code != 2 || errOut.String() != want || out.Len() != 0 {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want exit 2 and %q", cmd, code, errOut.String(), out.String(), want)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "-h"}, &out, &errOut, noEnv); code != 0 || !strings.Contains(errOut.String(), "-delivery-timeout") {
		t.Errorf("serve -h: exit %d, stderr %q; want the flags", code, errOut.String())
	}
}

func TestPublishNamesTheUnreachableNATS(t *testing.T) {
	addr := closedPort(t)
	var out, errOut bytes.Buffer
	code := run([]string{"publish", "--nats", "nats://alice:s3cret@" + addr, "--tenant", tenant, "--type", "a.b", "--data", "{}"},
		&out, &errOut, noEnv)
	if code != 1 || !strings.Contains(errOut.String(), addr) || strings.Contains(errOut.String(), "s3cret") {
		t.Fatalf("exit %d, stderr %q; want an error naming %s without the password", code, errOut.String(), addr)
	}
}

func TestHOOKSTREAM_NATSTurningOffTheEmbeddedServerIsLogged(t *testing.T) {
	addr := closedPort(t)
	vars := map[string]string{"HOOKSTREAM_NATS": "nats://alice:s3cret@" + addr, "HOOKSTREAM_ADMIN_TOKEN": "adm_cli_test_token_0123"}
	// serve waits for an unreachable NATS until stopped: stop it once it has logged its first try.
	serveUntil := func(args ...string) string {
		log := &lockedBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, args, log, env(vars)) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), "component failed; restarting") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %v stopped with %v", args, err)
		}
		return log.String()
	}
	log := serveUntil("--data", t.TempDir(), "--http", "127.0.0.1:0")
	if !strings.Contains(log, "using external NATS from HOOKSTREAM_NATS") || !strings.Contains(log, addr) || strings.Contains(log, "s3cret") {
		t.Fatalf("log %q: want the external NATS named, redacted", log)
	}
	var out, errOut bytes.Buffer
	run([]string{"rebuild", "--data", t.TempDir()}, &out, &errOut, env(vars))
	if log := errOut.String(); !strings.Contains(log, "using external NATS from HOOKSTREAM_NATS") || strings.Contains(log, "s3cret") {
		t.Errorf("rebuild's log %q: want the external NATS named, redacted", log)
	}
	if log := serveUntil("--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats", "nats://"+addr); strings.Contains(log, "HOOKSTREAM_NATS") {
		t.Errorf("an explicit --nats beats the environment, yet the log says %q", log)
	}
}

// lockedBuffer is a log sink that a test reads while the command writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
