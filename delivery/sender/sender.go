// Package sender makes one delivery request: it builds the POST, signs it per Standard Webhooks, dials through
// a dialer that refuses private destinations, and reads the answer. It is plain HTTP and knows nothing of
// JetStream; what follows an answer is decided elsewhere.
package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/tracing"
)

// Config shapes a Sender.
type Config struct {
	// Timeout bounds one request, from dialing to reading the answer.
	Timeout time.Duration
	// AllowPrivate lets requests reach loopback, private and link-local addresses.
	AllowPrivate bool
	// MaxConnsPerHost bounds the connections to one endpoint host.
	MaxConnsPerHost int
	// UserAgent is sent with every request.
	UserAgent string
}

// Sender POSTs signed deliveries. It is safe for concurrent use.
type Sender struct {
	cfg              Config
	secure, insecure *http.Client
	now              func() time.Time

	mu      sync.Mutex
	signers map[string]*Signer // by secret: each secret is decoded once
}

// New returns a Sender.
func New(cfg Config) *Sender {
	client := func(insecure bool) *http.Client {
		return NewHTTPClient(ClientOptions{Timeout: cfg.Timeout, AllowPrivate: cfg.AllowPrivate, InsecureSkipVerify: insecure,
			MaxConnsPerHost: cfg.MaxConnsPerHost, MaxIdleConnsPerHost: cfg.MaxConnsPerHost})
	}
	return &Sender{cfg: cfg, secure: client(false), insecure: client(true), now: time.Now, signers: map[string]*Signer{}}
}

// Result is what came of one request.
type Result struct {
	// StatusCode is the endpoint's status, 0 when no HTTP response came back.
	StatusCode int
	// Body is the start of the response body.
	Body string
	// Err says why no response came back, or why the request could not be made.
	Err error
	// Started and Ended bound the request.
	Started, Ended time.Time
	// RetryAfter is the answer's Retry-After header, as sent ("" when none).
	RetryAfter string
}

// Latency is how long the request took.
func (r Result) Latency() time.Duration { return r.Ended.Sub(r.Started) }

// Send POSTs body to the endpoint with msgID as webhook-id, signed with the endpoint's secrets in force, and
// trace, when valid, as its traceparent and tracestate.
func (s *Sender) Send(ctx context.Context, ep *hookstream.Endpoint, msgID string, body []byte, trace tracing.Context) Result {
	started := s.now()
	var retryAfter string
	code, head, err := s.send(ctx, ep, msgID, body, trace, started, &retryAfter)
	return Result{StatusCode: code, Body: head, Err: err, Started: started, Ended: s.now(), RetryAfter: retryAfter}
}

// send makes the request; retryAfter receives the answer's Retry-After header.
func (s *Sender) send(ctx context.Context, ep *hookstream.Endpoint, msgID string, body []byte, trace tracing.Context, now time.Time, retryAfter *string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("build request: %w", err)
	}
	for name, values := range ep.Headers {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.Header.Set("Webhook-Id", msgID)
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	// Set after the endpoint's own headers: the event's trace wins over a fixed one configured on the webhook.
	if trace.Valid() {
		req.Header.Set("Traceparent", trace.Traceparent())
		if trace.State != "" {
			req.Header.Set("Tracestate", trace.State)
		} else {
			req.Header.Del("Tracestate")
		}
	}
	if ep.HMACEnabled {
		sigs := make([]string, 0, 2)
		for _, secret := range ep.Secrets(now) {
			signer, err := s.signer(secret)
			if err != nil {
				return 0, "", err
			}
			sigs = append(sigs, signer.Sign(msgID, now, body))
		}
		req.Header.Set("Webhook-Signature", strings.Join(sigs, " "))
	}
	client := s.secure
	if !ep.SecureSSL {
		client = s.insecure
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", describe(err, s.cfg.Timeout)
	}
	defer resp.Body.Close()
	*retryAfter = resp.Header.Get("Retry-After")
	head, _ := io.ReadAll(io.LimitReader(resp.Body, hookstream.MaxResponseBodyBytes))
	// Read a little more so the connection can be reused; give up on endpoints that answer with a flood.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	return resp.StatusCode, string(head), nil
}

// describe turns a client error into the message an attempt records: the cause, without the request's
// method and URL, which the attempt carries already.
func describe(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, ErrPrivateDestination):
		return fmt.Errorf("refused: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no response within %s", timeout)
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func (s *Sender) signer(secret string) (*Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if signer, ok := s.signers[secret]; ok {
		return signer, nil
	}
	signer, err := NewSigner(secret)
	if err != nil {
		return nil, err
	}
	s.signers[secret] = signer
	return signer, nil
}
