package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
)

// gatedAppender stands in for the broker in the recorder's unit tests: it keeps what it is asked to append,
// and holds the first append until released, so that records queue behind a write in progress.
type gatedAppender struct {
	entered chan struct{} // closed when the first append starts
	release chan struct{} // the first append returns once this is closed
	fail    error         // returned by every append but the first

	mu      sync.Mutex
	appends []gatedAppend
}

type gatedAppend struct {
	subject string
	msgID   string
	rec     hookstream.DeliveryRecord
	size    int
}

func newGatedAppender() *gatedAppender {
	return &gatedAppender{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedAppender) AppendJSON(_ context.Context, subject string, v any, o broker.AppendOptions) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var rec hookstream.DeliveryRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return 0, err
	}
	g.mu.Lock()
	g.appends = append(g.appends, gatedAppend{subject: subject, msgID: o.MsgID, rec: rec, size: len(data)})
	first := len(g.appends) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
		return 1, nil
	}
	return uint64(len(g.appends)), g.fail
}

func (g *gatedAppender) written() []gatedAppend {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gatedAppend(nil), g.appends...)
}

func testAttempt(i int, body string) *hookstream.Attempt {
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return &hookstream.Attempt{Locator: fmt.Sprintf("A%04d", i), Tenant: "t", Webhook: "w", Event: fmt.Sprintf("E%04d", i),
		Status: hookstream.AttemptSuccess, StatusCode: 200, ResponseBody: body, Created: now, LatencyMs: 1.5}
}

// queueBehindAWrite starts a write of one record to subject that the appender holds, then queues attempts
// behind it one at a time, in order, and returns the channel each caller's result arrives on (the first
// record's first).
func queueBehindAWrite(t *testing.T, r *attemptRecorder, g *gatedAppender, subject string, attempts []*hookstream.Attempt) []chan error {
	t.Helper()
	results := make([]chan error, len(attempts))
	for i, a := range attempts {
		results[i] = make(chan error, 1)
		go func() { results[i] <- r.record(context.Background(), subject, a) }()
		if i == 0 {
			<-g.entered
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r.mu.Lock()
			queued := 0
			if q := r.queues[subject]; q != nil {
				queued = len(q.items)
			}
			r.mu.Unlock()
			if queued == i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record %d not queued", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return results
}

// TestAttemptRecorderBatchesWhatQueuesDuringAWrite: without a linger, a lone record goes out at once; the
// records that queue for a subject while its write is on its way go out together, in the order they came, at most
// maxBatchRecords a message; another subject is not held up; every caller gets its batch's result.
func TestAttemptRecorderBatchesWhatQueuesDuringAWrite(t *testing.T) {
	g := newGatedAppender()
	r := newAttemptRecorder(g, time.Second, 0)
	attempts := make([]*hookstream.Attempt, 1+maxBatchRecords+6)
	for i := range attempts {
		attempts[i] = testAttempt(i, `{"ok":true}`)
	}
	results := queueBehindAWrite(t, r, g, "s1", attempts)

	// Another webhook's subject has its own writer.
	if err := r.record(context.Background(), "s2", testAttempt(999, "")); err != nil {
		t.Fatalf("record on another subject while s1 writes: %v", err)
	}
	close(g.release)
	for i, res := range results {
		if err := <-res; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	var sizes []int
	var order []string
	for _, w := range g.written() {
		if w.rec.Type != hookstream.RecordAttempts || w.rec.Tenant != "t" || w.rec.Webhook != "w" || !strings.HasPrefix(w.msgID, "atts/") {
			t.Errorf("append to %s: %+v, message id %q; want an attempts batch of t/w with a batch message id", w.subject, w.rec, w.msgID)
		}
		if w.subject != "s1" {
			continue
		}
		sizes = append(sizes, len(w.rec.Attempts))
		for _, a := range w.rec.Attempts {
			order = append(order, a.Locator)
		}
		last := w.rec.Attempts[len(w.rec.Attempts)-1]
		if !w.rec.Time.Equal(last.Ended()) {
			t.Errorf("batch time %s, want its latest attempt's end %s", w.rec.Time, last.Ended())
		}
	}
	if want := []int{1, maxBatchRecords, 6}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("batch sizes on s1 = %v, want %v", sizes, want)
	}
	for i, loc := range order {
		if loc != attempts[i].Locator {
			t.Fatalf("record %d written as %s, want %s (order: %v)", i, loc, attempts[i].Locator, order)
		}
	}
	if len(order) != len(attempts) {
		t.Errorf("%d records written on s1, want %d", len(order), len(attempts))
	}
	// A writer hands its batch's results over before it looks for more and, finding none, removes its queue.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		left := len(r.queues)
		r.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queues left after every write ended", left)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAttemptRecorderBoundsBatchBytesAndReportsErrors: large records split into batches that stay within
// maxBatchBytes, and a failed write reaches every caller whose record it carried.
func TestAttemptRecorderBoundsBatchBytesAndReportsErrors(t *testing.T) {
	g := newGatedAppender()
	g.fail = errors.New("stream unavailable")
	r := newAttemptRecorder(g, time.Second, 0)
	body := strings.Repeat("x", hookstream.MaxResponseBodyBytes)
	attempts := make([]*hookstream.Attempt, 1+maxBatchRecords)
	for i := range attempts {
		attempts[i] = testAttempt(i, body)
	}
	results := queueBehindAWrite(t, r, g, "s1", attempts)
	close(g.release)
	for i, res := range results {
		err := <-res
		if i == 0 && err != nil {
			t.Errorf("the first record's write succeeded, but it got %v", err)
		}
		if i > 0 && !errors.Is(err, g.fail) {
			t.Errorf("record %d: %v, want the failed write's error", i, err)
		}
	}
	written := g.written()
	if len(written) < 3 {
		t.Fatalf("%d appends; want the first and at least two batches of 4 KiB records", len(written))
	}
	for _, w := range written {
		if w.size > maxBatchBytes {
			t.Errorf("a batch of %d records is %d bytes, over %d", len(w.rec.Attempts), w.size, maxBatchBytes)
		}
	}
}

// TestAttemptRecorderMessageIDFollowsTheBatch: writing the same batch again gives the same message id, so the
// stream stores it once; another batch gets another.
func TestAttemptRecorderMessageIDFollowsTheBatch(t *testing.T) {
	g := newGatedAppender()
	close(g.release)
	r := newAttemptRecorder(g, time.Second, 0)
	batch := func(attempts ...*hookstream.Attempt) []*queuedAttempt {
		var out []*queuedAttempt
		for _, a := range attempts {
			out = append(out, &queuedAttempt{a: a})
		}
		return out
	}
	a, b := testAttempt(1, ""), testAttempt(2, "")
	for _, q := range [][]*queuedAttempt{batch(a, b), batch(a, b), batch(b, a), batch(a)} {
		_ = r.append("s1", q)
	}
	ids := make([]string, 0, 4)
	for _, w := range g.written() {
		ids = append(ids, w.msgID)
	}
	if ids[0] != ids[1] || ids[0] == ids[2] || ids[0] == ids[3] || ids[2] == ids[3] {
		t.Errorf("message ids %v: want the first two equal and the others distinct", ids)
	}
}

// TestAttemptRecorderLingersUntilTheBatchFills: with a linger, the records that come while the write waits go
// out with it, and a batch that fills ends the wait. The linger here is a minute, so only a full batch can
// have ended it before the test's deadline.
func TestAttemptRecorderLingersUntilTheBatchFills(t *testing.T) {
	g := newGatedAppender()
	close(g.release)
	r := newAttemptRecorder(g, time.Second, time.Minute)
	results := make(chan error, maxBatchRecords)
	for i := range maxBatchRecords {
		go func() { results <- r.record(context.Background(), "s1", testAttempt(i, `{"ok":true}`)) }()
	}
	deadline := time.After(10 * time.Second)
	for i := range maxBatchRecords {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("record: %v", err)
			}
		case <-deadline:
			t.Fatalf("%d of %d records written after 10 s: a full batch did not end the linger", i, maxBatchRecords)
		}
	}
	written := g.written()
	if len(written) != 1 || len(written[0].rec.Attempts) != maxBatchRecords {
		sizes := make([]int, len(written))
		for i, w := range written {
			sizes[i] = len(w.rec.Attempts)
		}
		t.Fatalf("batches %v, want one of %d", sizes, maxBatchRecords)
	}
}
