package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery/sender"
)

const (
	listenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret  = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk="
)

// deliver POSTs sent to url with the headers hookstream sends, signed over signed (the same body unless a test
// forges one) with every secret given, at the time at.
func deliver(t *testing.T, url, signed, sent string, at time.Time, secrets ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(sent))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Webhook-Id", "01JDELIVERY0000000000000000")
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(at.Unix(), 10))
	if len(secrets) > 0 {
		sig, err := sender.SignatureHeader(secrets, "01JDELIVERY0000000000000000", at, []byte(signed))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Webhook-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestListenReportsWhetherSignaturesVerify(t *testing.T) {
	const body = `{"locator":"01JDELIVERY0000000000000000","type":"policy.issue","data":{"n": 1}}`
	now := time.Now()
	cases := []struct {
		name, secret string
		body         string // sent instead of the signed body when set
		signers      []string
		sent         time.Time
		want         string
	}{
		{name: "signed", secret: listenSecret, signers: []string{listenSecret}, sent: now, want: "signature: verified"},
		{name: "rotation, old secret second", secret: listenSecret, signers: []string{otherSecret, listenSecret}, sent: now, want: "signature: verified"},
		{name: "body changed", secret: listenSecret, signers: []string{listenSecret}, sent: now, body: `{"type":"forged"}`,
			want: "signature: NOT VERIFIED: no signature matches this secret"},
		{name: "wrong secret", secret: otherSecret, signers: []string{listenSecret}, sent: now,
			want: "signature: NOT VERIFIED: no signature matches this secret"},
		{name: "unsigned", secret: listenSecret, sent: now,
			want: "signature: NOT VERIFIED: missing webhook-id, webhook-timestamp or webhook-signature"},
		{name: "stale", secret: listenSecret, signers: []string{listenSecret}, sent: now.Add(-time.Hour),
			want: "signature: NOT VERIFIED: signature matches but webhook-timestamp is"},
		{name: "no secret", signers: []string{listenSecret}, sent: now, want: "signature: not checked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			rcv, err := newReceiver(tc.secret, http.StatusOK, &out)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			sent := body
			if tc.body != "" {
				sent = tc.body
			}
			resp := deliver(t, srv.URL, body, sent, tc.sent, tc.signers...)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			got := out.String()
			if !strings.Contains(got, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, got)
			}
			for _, line := range []string{"POST /", "webhook-id: 01JDELIVERY0000000000000000", `"type": "`} {
				if !strings.Contains(got, line) {
					t.Errorf("output lacks %q:\n%s", line, got)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the listener's goroutine and the test's reads.
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

// TestListenCommand runs the command itself: flags, the announced address, the chosen status, a clean stop.
func TestListenCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- listenUntil(ctx, []string{"--addr", "127.0.0.1:0", "--secret", listenSecret, "--status", "503"}, &out, &errOut)
	}()
	addr := regexp.MustCompile(`listening on (http://\S+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no address announced: %q %q", out.String(), errOut.String())
	}
	const body = `{"type":"policy.issue"}`
	resp := deliver(t, url+"/hooks", body, body, time.Now(), listenSecret)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 as --status asked", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
	for _, want := range []string{"POST /hooks", "signature: verified", "answered 503"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestListenRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--secret", "not-a-secret"},
		{"--status", "42"},
		{"--addr", "127.0.0.1:99999"},
		{"stray"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"listen"}, args...), &out, &errOut, func(string) string { return "" }); code == 0 {
			t.Errorf("listen %v: exit 0, want an error", args)
		}
	}
}
