package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	routeKey
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// routeLabel is filled in by the router once it has matched, so the outer metrics wrapper can label by the
// route template (bounded cardinality) rather than the raw path.
type routeLabel struct{ name string }

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if code == http.StatusServiceUnavailable && s.Header().Get("Retry-After") == "" {
			// Every 503 is a passing state (the broker, the views): say when to try again.
			s.Header().Set("Retry-After", RetryAfterSeconds)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookstream_http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// outer wraps the whole router: request id, body limit, panic recovery, access log and metrics.
func (a *API) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		label := &routeLabel{name: "unmatched"}
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey, id), routeKey, label)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.ErrorContext(ctx, "handler panicked", "request_id", id, "method", r.Method, "route", label.name,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, errorBody{Code: "internal", Message: "internal error; request id " + id})
				}
			}
			elapsed := time.Since(start)
			a.metrics.requests.WithLabelValues(label.name, r.Method, strconv.Itoa(rec.status)).Inc()
			a.metrics.duration.WithLabelValues(label.name, r.Method).Observe(elapsed.Seconds())
			a.log.LogAttrs(ctx, slog.LevelDebug, "http request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("route", label.name), slog.Int("status", rec.status), slog.Duration("elapsed", elapsed))
		}()
		// url.Values silently drops what it cannot decode: a filter lost that way would widen the answer.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			a.routeError(rec, r, hookstream.Invalid("query", "malformed query string: %v", err))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// RetryAfterSeconds is the Retry-After of a 503: about how long the broker's reconnection or a view's
// catching up takes.
const RetryAfterSeconds = "2"

// available is a mux middleware that answers 503, before any work, a request the engine cannot serve now:
// any API request until the views have caught up with the streams, and any write while NATS is not connected
// (a write would wait for NATS until it timed out). Health, readiness, metrics and the OpenAPI document are
// always answered.
func (a *API) available(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics", "/openapi.json":
			next.ServeHTTP(w, r)
			return
		}
		views, connected := a.serving()
		switch {
		case !views:
			a.routeError(w, r, &hookstream.Error{Code: hookstream.CodeUnavailable, Message: "starting: the views are catching up with the streams; try again shortly"})
		case !connected && r.Method != http.MethodGet && r.Method != http.MethodHead:
			a.routeError(w, r, &hookstream.Error{Code: hookstream.CodeUnavailable, Message: "the message broker is unavailable; try again shortly"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// brokerError turns an error that says NATS was out of reach into the domain's unavailable error (503), so
// that a broker outage is never answered as an internal error.
func brokerError(err error) error {
	var de *hookstream.Error
	if errors.As(err, &de) || !broker.Unavailable(err) {
		return err
	}
	return &hookstream.Error{Code: hookstream.CodeUnavailable, Message: "the message broker is unavailable; try again shortly"}
}

// nameRoute is a mux middleware that records the matched route's template for metrics and logs.
func nameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if label, ok := r.Context().Value(routeKey).(*routeLabel); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if tpl, err := route.GetPathTemplate(); err == nil {
					label.name = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
