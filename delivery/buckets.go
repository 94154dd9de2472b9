package delivery

import (
	"strconv"
	"sync"
	"time"
)

// RetryBuckets says which tasks wait in buckets rather than in a schedule of their own. The server keeps
// every schedule in memory, as pointer-dense heap that the engine's GC marks over and over, so a large number
// of retries pending far ahead would slow fresh deliveries (docs/performance.md, the pending-retries
// benchmark). A task due further ahead than After is a plain message in the bucket of its due time instead, and
// one schedule per bucket promotes the bucket's tasks to schedules of their own Lead before the bucket
// begins.
type RetryBuckets struct {
	// After: tasks due further ahead wait in a bucket.
	After time.Duration
	// Span is the span of due times one bucket holds.
	Span time.Duration
	// Lead is how long before its span begins a bucket is promoted.
	Lead time.Duration
}

// bounded keeps a bucket's promotion after the time its tasks are written: a task waits only when due more
// than After ahead, so its bucket begins at least After−Span ahead, and is promoted Lead before that.
func (b RetryBuckets) bounded() RetryBuckets {
	if b.Lead+b.Span >= b.After {
		b.Lead = (b.After - b.Span) / 2
	}
	return b
}

// bucket returns the bucket of due times that holds due, and when it is promoted.
func (b RetryBuckets) bucket(due time.Time) (name string, promote time.Time) {
	n := due.UnixNano() / int64(b.Span)
	return strconv.FormatInt(n, 10), time.Unix(0, n*int64(b.Span)).Add(-b.Lead)
}

// Headers of a task waiting in a bucket.
const (
	headerDue        = "Hookstream-Due"
	headerScheduleID = "Hookstream-Schedule-Id"
)

// ticks remembers the buckets whose promotion this instance has scheduled, until their promotion time: a
// bucket's tick is written once per instance, not once per task (many retries queued in a few minutes
// fall into a handful of buckets). It is safe to forget: a tick written again keeps its message id and
// subject, so it is scheduled once.
type ticks struct {
	mu      sync.Mutex
	promote map[string]time.Time // by bucket
}

// first records bucket's tick and reports whether it is new to this instance; it forgets the ticks whose
// promotion time has passed.
func (tk *ticks) first(bucket string, promote, now time.Time) bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if _, ok := tk.promote[bucket]; ok {
		return false
	}
	for b, at := range tk.promote {
		if at.Before(now) {
			delete(tk.promote, b)
		}
	}
	if tk.promote == nil {
		tk.promote = map[string]time.Time{}
	}
	tk.promote[bucket] = promote
	return true
}

// forget drops bucket, whose tick could not be written.
func (tk *ticks) forget(bucket string) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	delete(tk.promote, bucket)
}
