package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/delivery/sender"
)

// timestampTolerance is how far a webhook-timestamp may be from the receiver's clock, as Standard Webhooks
// recommends, before the delivery is reported as a possible replay.
const timestampTolerance = 5 * time.Minute

// listen runs a local receiver until SIGINT or SIGTERM: it prints each delivery and whether its signature
// verifies.
func listen(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return listenUntil(ctx, args, stdout, stderr)
}

// listenUntil is listen, stopped when ctx ends.
func listenUntil(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookstream listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := fs.String("secret", "", "the webhook's signing secret (whsec_…); without it signatures are not checked")
	status := fs.Int("status", http.StatusOK, "HTTP status to answer every delivery with (e.g. 500 to try failure handling)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	rcv, err := newReceiver(*secret, *status, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	check := "signatures not checked (no --secret)"
	if rcv.signer != nil {
		check = "checking signatures"
	}
	fmt.Fprintf(stdout, "listening on http://%s (answering %d, %s); Ctrl-C stops\n", ln.Addr(), *status, check)
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("listen: stop: %w", err)
	}
	return nil
}

// receiver prints every request it gets and answers them all with one status.
type receiver struct {
	signer *sender.Signer // nil: signatures are not checked
	status int
	now    func() time.Time

	mu  sync.Mutex // one delivery's lines together
	out io.Writer
}

func newReceiver(secret string, status int, out io.Writer) (*receiver, error) {
	if status < 100 || status > 999 {
		return nil, fmt.Errorf("--status %d is not an HTTP status", status)
	}
	r := &receiver{status: status, now: time.Now, out: out}
	if secret != "" {
		s, err := sender.NewSigner(secret)
		if err != nil {
			return nil, fmt.Errorf("--secret: %w", err)
		}
		r.signer = s
	}
	return r, nil
}

// shownHeaders are the request headers worth printing, in this order.
var shownHeaders = []string{"Content-Type", "User-Agent", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Traceparent"}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "\n%s %s %s\n", r.now().UTC().Format(time.RFC3339), req.Method, req.URL.RequestURI())
	for _, h := range shownHeaders {
		if v := req.Header.Get(h); v != "" {
			fmt.Fprintf(r.out, "  %s: %s\n", strings.ToLower(h), v)
		}
	}
	verdict := r.verify(req.Header, body, err)
	if err != nil {
		fmt.Fprintf(r.out, "  body unreadable: %v\n", err)
	} else {
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "  ", "  ") != nil {
			pretty.Reset()
			pretty.Write(body)
		}
		fmt.Fprintf(r.out, "  %s\n", pretty.Bytes())
	}
	fmt.Fprintf(r.out, "  signature: %s\n", verdict)
	fmt.Fprintf(r.out, "  answered %d\n", r.status)
	w.WriteHeader(r.status)
}

// verify checks the Standard Webhooks signature of a delivery and says what it found in a few words.
func (r *receiver) verify(h http.Header, body []byte, readErr error) string {
	if r.signer == nil {
		return "not checked (start listen with --secret to verify)"
	}
	if readErr != nil {
		return "NOT VERIFIED: body unreadable"
	}
	id, ts, sigs := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return "NOT VERIFIED: missing webhook-id, webhook-timestamp or webhook-signature"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "NOT VERIFIED: webhook-timestamp is not Unix seconds"
	}
	sent := time.Unix(secs, 0)
	want := r.signer.Sign(id, sent, body)
	matched := false
	// During a rotation's grace period the header holds two signatures, space-separated; either may match.
	for _, sig := range strings.Fields(sigs) {
		matched = matched || hmac.Equal([]byte(sig), []byte(want))
	}
	switch {
	case !matched:
		return "NOT VERIFIED: no signature matches this secret"
	case r.now().Sub(sent).Abs() > timestampTolerance:
		return fmt.Sprintf("NOT VERIFIED: signature matches but webhook-timestamp is %s away (over %s)",
			r.now().Sub(sent).Abs().Round(time.Second), timestampTolerance)
	}
	return "verified"
}
