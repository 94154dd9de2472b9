package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
)

// replayEngine is an engine the test can stop itself (to replay its data folder offline).
type replayEngine struct {
	*engine.Engine
	cfg  *config.Config
	once sync.Once
	t    *testing.T
}

func startReplayEngine(t *testing.T) *replayEngine {
	t.Helper()
	cfg := testConfig(t)
	cfg.AllowPrivateDestinations = true
	e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r := &replayEngine{Engine: e, cfg: cfg, t: t}
	t.Cleanup(r.stop)
	return r
}

func (r *replayEngine) stop() {
	r.once.Do(func() {
		if err := r.Stop(context.Background()); err != nil {
			r.t.Errorf("stop engine: %v", err)
		}
	})
}

func noEnv(string) string { return "" }

func TestReplayWritesJSONLinesOnlineAndOffline(t *testing.T) {
	e := startReplayEngine(t)
	secret := hookstream.NewSecret()
	body, _ := json.Marshal(map[string]any{"name": "audited", "endpoint": map[string]any{"url": "http://127.0.0.1:9/hook", "secret": secret},
		"eventTypes": []string{"claim.opened"}})
	req, _ := http.NewRequest("POST", "http://"+e.HTTPAddr()+"/event/"+tenant+"/webhooks", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create webhook: %d", resp.StatusCode)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"publish", "--nats", e.NATSURL(), "--tenant", tenant, "--type", "policy.issue", "--data", `{"p":1}`},
		&out, &errOut, noEnv); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut.String())
	}

	replay := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"replay"}, args...), &out, &errOut, noEnv); code != 0 {
			t.Fatalf("replay %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String(), errOut.String()
	}
	online, stderr := replay("--nats", e.NATSURL())
	if stderr != "" {
		t.Errorf("stderr not quiet: %q", stderr)
	}
	var streams []string
	for l := range strings.Lines(online) {
		var line struct {
			Stream   string          `json:"stream"`
			Sequence uint64          `json:"sequence"`
			Time     time.Time       `json:"time"`
			Subject  string          `json:"subject"`
			Actor    string          `json:"actor"`
			Entry    json.RawMessage `json:"entry"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if line.Sequence == 0 || line.Time.IsZero() || line.Subject == "" || len(line.Entry) == 0 {
			t.Errorf("incomplete line %s", l)
		}
		streams = append(streams, line.Stream+" "+line.Actor)
	}
	if strings.Join(streams, ",") != "webhooks admin,events " {
		t.Errorf("lines of %q:\n%s", streams, online)
	}
	if strings.Contains(online, secret) || !strings.Contains(online, `"secret":"whsec_…`+secret[len(secret)-4:]+`"`) {
		t.Errorf("secret not masked:\n%s", online)
	}

	if got, _ := replay("--nats", e.NATSURL(), "--stream", "events", "--type", "policy.issue", "--tenant", tenant, "--since", "1h"); strings.Count(got, "\n") != 1 {
		t.Errorf("filtered replay:\n%s", got)
	}
	if got, _ := replay("--nats", e.NATSURL(), "--type", "policy.cancel"); got != "" {
		t.Errorf("replay of a type never published:\n%s", got)
	}
	if _, stderr := replay("--nats", e.NATSURL(), "--progress"); !strings.Contains(stderr, "entries/s") {
		t.Errorf("--progress wrote %q", stderr)
	}

	e.stop()
	offline, stderr := replay("--data", e.cfg.Data)
	if offline != online || stderr != "" {
		t.Fatalf("offline replay differs (stderr %q)\nonline:\n%s\noffline:\n%s", stderr, online, offline)
	}
}

func TestReplayRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stream", "nope"}, "--stream"},
		{[]string{"--since", "garbage"}, "--since"},
		{[]string{"--until", "yesterday"}, "--until"},
		{[]string{"--since", "1h", "--until", "2h"}, "--until"},
		{[]string{"--tenant", "nope"}, "--tenant"},
		{[]string{"--webhook", "nope"}, "--webhook"},
		{[]string{"--event", "01M84TWDZDQM31WQXQDDSPEJBF"}, "--event"},
		{[]string{"--type", "a.*"}, "--type"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--data", "x"}, "--nats and --data"},
		{[]string{"--data", "/does/not/exist"}, "/does/not/exist"},
		{[]string{"--follow=maybe"}, "follow"},
		{[]string{"extra"}, "extra"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"replay"}, tc.args...), &out, &errOut, noEnv)
		if code == 0 || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
