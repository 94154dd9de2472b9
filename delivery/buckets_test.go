package delivery

import (
	"testing"
	"time"
)

// TestTicksWriteABucketsTickOnce checks that an instance writes a bucket's tick for its first task only, writes
// it again after a failed write, and forgets buckets whose promotion time has passed.
func TestTicksWriteABucketsTickOnce(t *testing.T) {
	var tk ticks
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	promote := now.Add(7 * time.Minute)
	if !tk.first("b1", promote, now) {
		t.Fatal("the first task of b1 did not write its tick")
	}
	if tk.first("b1", promote, now) {
		t.Fatal("the second task of b1 wrote its tick again")
	}
	tk.forget("b1")
	if !tk.first("b1", promote, now) {
		t.Fatal("b1's tick, whose write failed, was not written again")
	}
	later := promote.Add(time.Second)
	if !tk.first("b2", later.Add(7*time.Minute), later) {
		t.Fatal("the first task of b2 did not write its tick")
	}
	if _, ok := tk.promote["b1"]; ok || len(tk.promote) != 1 {
		t.Fatalf("buckets remembered past b1's promotion: %v", tk.promote)
	}
}

func TestBucketsArePromotedAfterTheirTasksAreWritten(t *testing.T) {
	for _, b := range []RetryBuckets{
		{After: 10 * time.Minute, Span: time.Minute, Lead: 3 * time.Minute},
		{After: 1500 * time.Millisecond, Span: 500 * time.Millisecond, Lead: 2 * time.Second},
	} {
		got := b.bounded()
		if got.Lead+got.Span >= got.After || got.Lead <= 0 {
			t.Errorf("%+v bounded to %+v: a bucket's first task may be written after its promotion", b, got)
		}
		if b.Lead+b.Span < b.After && got != b {
			t.Errorf("%+v changed to %+v though already bounded", b, got)
		}
	}
}
