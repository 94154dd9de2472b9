package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// takeAll takes tokens from key until refused and returns how many it got and the wait it was told.
func takeAll(t *testing.T, l *rateLimiter, key string) (int, time.Duration) {
	t.Helper()
	for n := 0; n < 10000; n++ {
		if ok, wait := l.allow(key); !ok {
			return n, wait
		}
	}
	t.Fatal("never refused")
	return 0, 0
}

func TestRateLimitBurstIsCeilOfRate(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
		wait  time.Duration
		after string
	}{
		{rate: 5, burst: 5, wait: 200 * time.Millisecond, after: "1"},
		{rate: 1, burst: 1, wait: time.Second, after: "1"},
		{rate: 2.5, burst: 3, wait: 400 * time.Millisecond, after: "1"},
		{rate: 0.5, burst: 1, wait: 2 * time.Second, after: "2"},
		{rate: 0.3, burst: 1, wait: 3333333333, after: "4"},
		{rate: 1000, burst: 1000, wait: time.Millisecond, after: "1"},
	} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			clock := newFakeClock()
			l := newRateLimiter(tc.rate, clock.now, 100)
			got, wait := takeAll(t, l, "k")
			if got != tc.burst {
				t.Fatalf("burst %d, want %d", got, tc.burst)
			}
			if d := wait - tc.wait; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("wait %s, want %s", wait, tc.wait)
			}
			if ra := retryAfter(wait); ra != tc.after {
				t.Fatalf("Retry-After %q, want %q", ra, tc.after)
			}
			// Exactly one token comes back after the announced wait, not before.
			eps := min(time.Millisecond, wait/10)
			clock.advance(wait - eps)
			if ok, _ := l.allow("k"); ok {
				t.Fatal("allowed before the announced wait")
			}
			clock.advance(2 * eps)
			if ok, _ := l.allow("k"); !ok {
				t.Fatal("refused after the announced wait")
			}
			if ok, _ := l.allow("k"); ok {
				t.Fatal("a second token after one token's wait")
			}
		})
	}
}

func TestRateLimitRefillsAtRateUpToBurst(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(10, clock.now, 100)
	if n, _ := takeAll(t, l, "k"); n != 10 {
		t.Fatalf("burst %d", n)
	}
	clock.advance(350 * time.Millisecond) // 3.5 tokens
	if n, _ := takeAll(t, l, "k"); n != 3 {
		t.Fatalf("after 350ms got %d, want 3", n)
	}
	clock.advance(time.Hour) // capped at the burst
	if n, _ := takeAll(t, l, "k"); n != 10 {
		t.Fatalf("after an hour got %d, want the burst of 10", n)
	}
	// A steady client at the rate is never refused.
	clock.advance(time.Hour)
	for i := range 1000 {
		clock.advance(100 * time.Millisecond)
		if ok, _ := l.allow("k"); !ok {
			t.Fatalf("request %d at the rate refused", i)
		}
	}
}

func TestRateLimitKeysAreIndependent(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(2, clock.now, 100)
	takeAll(t, l, "a")
	if n, _ := takeAll(t, l, "b"); n != 2 {
		t.Fatalf("b got %d after a was exhausted, want 2", n)
	}
}

func TestRateLimitClockGoingBackwards(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(1, clock.now, 100)
	takeAll(t, l, "k")
	clock.advance(-time.Hour)
	if ok, wait := l.allow("k"); ok || wait <= 0 {
		t.Fatalf("clock went back: allowed %v, wait %s", ok, wait)
	}
	clock.advance(time.Hour + time.Second)
	if ok, _ := l.allow("k"); !ok {
		t.Fatal("refused a second after the last token")
	}
}

func TestRateLimitMemoryIsBounded(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(4, clock.now, 50)
	// Idle buckets go once they would be full again (4 tokens at 4/s: 1 s).
	for i := range 30 {
		l.allow(fmt.Sprint("idle-", i))
	}
	clock.advance(999 * time.Millisecond)
	l.allow("fresh")
	if n := l.size(); n != 31 {
		t.Fatalf("%d buckets before the idle ones refilled, want 31", n)
	}
	clock.advance(time.Millisecond)
	l.allow("fresh")
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after the idle ones refilled, want 1", n)
	}
	// Never more than max, however many keys turn up at once; the most recently used survive.
	for i := range 10000 {
		l.allow(fmt.Sprint("flood-", i))
		if n := l.size(); n > 50 {
			t.Fatalf("%d buckets, max 50", n)
		}
	}
	takeAll(t, l, "hot")
	for i := range 49 {
		l.allow(fmt.Sprint("more-", i))
	}
	if ok, _ := l.allow("hot"); ok {
		t.Fatal("a recently used, exhausted bucket was evicted")
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter(100, clock.now, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("k", g%4)
			for range 200 {
				if ok, _ := l.allow(key); ok {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for k, n := range allowed {
		if n != 100 {
			t.Fatalf("%s allowed %d with a still clock, want the burst of 100", k, n)
		}
	}
}

// tokenFinder serves tokens from a map keyed by hash.
type tokenFinder map[string]*hookstream.Token

func (f tokenFinder) ByHash(hash string) (*hookstream.Token, error) { return f[hash], nil }

// limitedAPI is an API with only what the rate-limit middleware and the outer wrapper need, in front of a
// handler that answers 200.
func limitedAPI(t *testing.T, rate float64, clock *fakeClock, tokens ...string) http.Handler {
	t.Helper()
	finder := tokenFinder{}
	for i, s := range tokens {
		finder[hookstream.HashToken(s)] = &hookstream.Token{Locator: fmt.Sprint("tok", i), Hash: hookstream.HashToken(s),
			Tenants: []string{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"}, Permissions: []string{"*"}}
	}
	a := &API{
		auth:    &authenticator{adminHash: hookstream.HashToken("adm_unit_test_token"), tokens: finder, now: clock.now},
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		metrics: newHTTPMetrics(prometheus.NewRegistry()),
		limiter: newRateLimiter(rate, clock.now, 100),
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, map[string]string{}) })
	return a.outer(a.rateLimit(ok))
}

func call(h http.Handler, path, token, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRateLimitMiddleware(t *testing.T) {
	clock := newFakeClock()
	h := limitedAPI(t, 2, clock, "hst_one", "hst_two")
	const socotra = "/event/6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10/webhooks/list"
	for i := range 2 {
		if rec := call(h, socotra, "hst_one", ""); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}

	t.Run("Socotra shape", func(t *testing.T) {
		rec := call(h, socotra, "hst_one", "")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
			rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["code"] != "rate_limited" || body["message"] == "" {
			t.Fatalf("body %s", rec.Body)
		}
	})
	t.Run("v1 shape", func(t *testing.T) {
		rec := call(h, "/v1/event_subscriptions", "hst_one", "")
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusTooManyRequests ||
			body["message"] == "" || body["debugging_request_id"] != rec.Header().Get("X-Request-Id") || body["code"] != nil {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
	})
	t.Run("bare token is the same token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		req.Header.Set("Authorization", "hst_one")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("bare token: %d", rec.Code)
		}
	})
	t.Run("another token is unaffected", func(t *testing.T) {
		if rec := call(h, socotra, "hst_two", ""); rec.Code != http.StatusOK {
			t.Fatalf("%d", rec.Code)
		}
	})
	t.Run("admin token has its own bucket", func(t *testing.T) {
		if rec := call(h, "/admin/tokens", "adm_unit_test_token", ""); rec.Code != http.StatusOK {
			t.Fatalf("%d", rec.Code)
		}
	})
	t.Run("probes are never limited", func(t *testing.T) {
		for range 20 {
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if rec := call(h, p, "hst_one", "192.0.2.1:1234"); rec.Code != http.StatusOK {
					t.Fatalf("%s: %d", p, rec.Code)
				}
			}
		}
	})
	t.Run("invented tokens share the address's bucket", func(t *testing.T) {
		for i := range 2 {
			if rec := call(h, socotra, fmt.Sprint("hst_invented_", i), "198.51.100.7:1000"); rec.Code != http.StatusOK {
				t.Fatalf("request %d: %d", i, rec.Code)
			}
		}
		if rec := call(h, socotra, "hst_invented_x", "198.51.100.7:2000"); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("a fresh invented token got a fresh bucket: %d", rec.Code)
		}
		if rec := call(h, socotra, "", "198.51.100.7:3000"); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("no token from the same address: %d", rec.Code)
		}
		if rec := call(h, socotra, "", "198.51.100.8:1000"); rec.Code != http.StatusOK {
			t.Fatalf("another address: %d", rec.Code)
		}
	})
	t.Run("refilled after the wait", func(t *testing.T) {
		clock.advance(500 * time.Millisecond)
		if rec := call(h, socotra, "hst_one", ""); rec.Code != http.StatusOK {
			t.Fatalf("%d", rec.Code)
		}
	})
}

func TestRateLimitOffByDefault(t *testing.T) {
	a := &API{}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	h := a.rateLimit(ok)
	for range 1000 {
		if rec := call(h, "/v1/events", "x", ""); rec.Code != http.StatusOK {
			t.Fatalf("%d", rec.Code)
		}
	}
}
