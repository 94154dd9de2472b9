package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
)

// maxRateBuckets bounds the limiter's memory: past it, the least recently used bucket is dropped (which only
// ever hands its owner a fresh, full bucket).
const maxRateBuckets = 1 << 16

// rateLimiter is a set of token buckets, one per key, refilled at rate per second up to burst. Buckets are
// kept in least-recently-used order, so a bucket idle long enough to have refilled completely (and hence to
// be indistinguishable from a new one) is dropped in O(1), and the set never grows past max.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64 // bucket size
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *rateBucket
	lru     list.List                // front: most recently used
}

type rateBucket struct {
	key    string
	tokens float64
	last   time.Time
}

// newRateLimiter allows rate requests per second per key, with a burst of max(1, ceil(rate)).
func newRateLimiter(rate float64, now func() time.Time, maxBuckets int) *rateLimiter {
	if now == nil {
		now = time.Now
	}
	if maxBuckets < 1 {
		maxBuckets = 1
	}
	return &rateLimiter{rate: rate, burst: math.Max(1, math.Ceil(rate)), max: maxBuckets, now: now,
		buckets: map[string]*list.Element{}}
}

// allow takes one token from key's bucket. When there is none it reports false and how long until there
// will be one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	var b *rateBucket
	if el, ok := l.buckets[key]; ok {
		b = el.Value.(*rateBucket)
		l.lru.MoveToFront(el)
		if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
			b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		}
		if now.After(b.last) {
			b.last = now
		}
	} else {
		for len(l.buckets) >= l.max {
			oldest := l.lru.Back()
			delete(l.buckets, oldest.Value.(*rateBucket).key)
			l.lru.Remove(oldest)
		}
		b = &rateBucket{key: key, tokens: l.burst, last: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// evictIdle drops the buckets, oldest first, that have been idle long enough to be full again.
func (l *rateLimiter) evictIdle(now time.Time) {
	refill := time.Duration(l.burst / l.rate * float64(time.Second))
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		b := el.Value.(*rateBucket)
		if now.Sub(b.last) < refill {
			return
		}
		delete(l.buckets, b.key)
		l.lru.Remove(el)
	}
}

// size is the number of buckets held.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter renders a wait as the whole seconds of a Retry-After header, at least 1.
func retryAfter(wait time.Duration) string {
	s := int64(math.Ceil(wait.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// unlimited reports the paths that are never rate limited: probes and scrapes must work whatever clients do,
// and the OpenAPI document is static.
func unlimited(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return false
}

// rateKey is the bucket a request draws from: the hash of its token when the token is valid, else the
// client's address (so that inventing tokens does not buy fresh buckets).
func (a *API) rateKey(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		if p, err := a.auth.authenticate(r); err == nil && p != nil {
			h := strings.TrimSpace(r.Header.Get("Authorization"))
			if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
				h = strings.TrimSpace(rest)
			}
			return "token:" + hookstream.HashToken(h)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// rateLimit is a router middleware that answers 429, with Retry-After and the error shape of the route's
// face, to a token (or, unauthenticated, an address) over the configured rate.
func (a *API) rateLimit(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unlimited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := a.limiter.allow(a.rateKey(r))
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		after := retryAfter(wait)
		msg := fmt.Sprintf("rate limit of %g requests per second exceeded; retry after %s s", a.limiter.rate, after)
		// Debug, not info: a flood must not turn into a flood of log lines.
		a.log.DebugContext(r.Context(), "request refused", "request_id", requestID(r), "method", r.Method,
			"status", http.StatusTooManyRequests, "message", msg)
		w.Header().Set("Retry-After", after)
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			writeJSON(w, http.StatusTooManyRequests, v1ErrorBody{Message: msg, DebuggingRequestID: requestID(r)})
			return
		}
		writeJSON(w, http.StatusTooManyRequests, errorBody{Code: "rate_limited", Message: msg})
	})
}
