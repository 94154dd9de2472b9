package projections_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/projections"
	bolt "go.etcd.io/bbolt"
)

// openAttempts opens the attempts view over a fresh bbolt file, with its buckets made as the view's runner
// makes them, for tests and benchmarks that apply records directly. The file is closed when tb ends.
func openAttempts(tb testing.TB) (*projections.Store, *projections.Attempts) {
	tb.Helper()
	store, err := projections.Open(filepath.Join(tb.TempDir(), "views.db"), nil, projections.Options{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	view := projections.NewAttempts(store)
	makeBuckets(tb, store, view)
	return store, view
}

// makeBuckets makes the views' buckets in store, as their runners do at start.
func makeBuckets(tb testing.TB, store *projections.Store, views ...projections.View) {
	tb.Helper()
	if err := store.DB().Update(func(tx *bolt.Tx) error {
		for _, v := range views {
			for _, name := range v.Buckets() {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// applyBatch applies msgs to view in one write transaction, its buckets filled as the view's runner fills
// them.
func applyBatch(tb testing.TB, store *projections.Store, view projections.View, msgs []*projections.Msg) {
	tb.Helper()
	if err := store.DB().Update(func(tx *bolt.Tx) error {
		for _, name := range view.Buckets() {
			tx.Bucket([]byte(name)).FillPercent = projections.AppendFill
		}
		for _, m := range msgs {
			if err := view.Apply(tx, m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// applyRecords applies records to view in one transaction, the i-th at sequence i+1, as the view's runner
// would.
func applyRecords(t *testing.T, store *projections.Store, view *projections.Attempts, at time.Time, records []*hookstream.DeliveryRecord) {
	t.Helper()
	if err := store.DB().Update(func(tx *bolt.Tx) error {
		for i, r := range records {
			data, _ := json.Marshal(r)
			if err := view.Apply(tx, &projections.Msg{Seq: uint64(i + 1), Time: at, Data: data}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// soloRecord is the record of one try of the bench webhook to event, on its own.
func soloRecord(at time.Time, loc, event string, status hookstream.AttemptStatus) *hookstream.DeliveryRecord {
	return &hookstream.DeliveryRecord{Type: hookstream.RecordAttempt, Tenant: benchTenant(0), Webhook: benchWebhook, Event: event, Time: at,
		Attempt: &hookstream.Attempt{Locator: loc, Tenant: benchTenant(0), Webhook: benchWebhook, Event: event, Status: status, Created: at}}
}

// trimBelow trims view's records below sequence first and requires that it drop want attempts.
func trimBelow(t *testing.T, view *projections.Attempts, first uint64, want int) {
	t.Helper()
	if n, err := view.TrimBelow(first); err != nil || n != want {
		t.Fatalf("TrimBelow(%d) = %d, %v; want %d", first, n, err, want)
	}
}

// TestAttemptsTrimKeepsWhatLaterRecordsSupport applies delivery records to the attempts view in a real bbolt
// file, then trims it as retention does: an attempt goes with its latest record (not with an earlier PENDING
// one), and a pair's delivered and last-outcome state goes with the pair's last attempt.
func TestAttemptsTrimKeepsWhatLaterRecordsSupport(t *testing.T) {
	store, view := openAttempts(t)
	tenant, webhook := benchTenant(0), benchWebhook
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e1, e2 := hookstream.EventLocator(now, 1), hookstream.EventLocator(now, 2)
	a1 := hookstream.DerivedLocator(now, e1, webhook, "0")
	a2 := hookstream.DerivedLocator(now.Add(time.Second), e1, webhook, "1")
	b1 := hookstream.DerivedLocator(now, e2, webhook, "0")
	b2 := hookstream.DerivedLocator(now.Add(time.Second), e2, webhook, "1")
	attempt := func(loc, event string, status hookstream.AttemptStatus) *hookstream.DeliveryRecord {
		return soloRecord(now, loc, event, status)
	}
	records := []*hookstream.DeliveryRecord{
		attempt(a1, e1, hookstream.AttemptFailed),  // seq 1
		attempt(a2, e1, hookstream.AttemptPending), // seq 2: the retry, scheduled
		attempt(a2, e1, hookstream.AttemptSuccess), // seq 3: the retry ran
		attempt(b1, e2, hookstream.AttemptSuccess), // seq 4
		attempt(b2, e2, hookstream.AttemptPending), // seq 5, cancelled by seq 6
		{Type: hookstream.RecordAttemptCancelled, Tenant: tenant, Webhook: webhook, Event: e2, Time: now, Cancelled: b2},
	}
	applyRecords(t, store, view, now, records)
	check := func(when, event string, delivered, attempted bool, last string) {
		t.Helper()
		if got, _ := view.Delivered(tenant, webhook, event); got != delivered {
			t.Errorf("%s: delivered %s = %v, want %v", when, event, got, delivered)
		}
		if got, _ := view.EverAttempted(tenant, webhook, event); got != attempted {
			t.Errorf("%s: attempted %s = %v, want %v", when, event, got, attempted)
		}
		got, _ := view.LatestOutcome(tenant, webhook, event)
		if (got == nil && last != "") || (got != nil && got.Locator != last) {
			t.Errorf("%s: latest outcome of %s = %+v, want %q", when, event, got, last)
		}
	}
	if _, err := view.Attempt(tenant, b2); err == nil {
		t.Error("the cancelled PENDING try is still listed")
	}
	check("applied", e1, true, true, a2)
	check("applied", e2, true, true, b1)

	trimBelow(t, view, 2, 1) // seq 1: a1
	if _, err := view.Attempt(tenant, a1); err == nil {
		t.Error("a1 survived the trim of its only record")
	}
	check("a1 trimmed", e1, true, true, a2)

	trimBelow(t, view, 4, 1) // seqs 2–3: a2 (seq 2, its PENDING record, is not its latest); e1 has no attempt left
	check("a2 trimmed", e1, false, false, "")
	check("a2 trimmed", e2, true, true, b1)

	trimBelow(t, view, 7, 1) // seqs 4–6: b1 (b2 went with its cancellation)
	check("all trimmed", e2, false, false, "")
	if all, err := view.ForWebhook(tenant, webhook); err != nil || len(all) != 0 {
		t.Errorf("attempts left after trimming every record: %d, %v", len(all), err)
	}
}

// TestAttemptsBatchKeepsFirstOutcome applies attempts batches to the attempts view in a real bbolt file: each
// attempt of a batch is applied as if recorded alone, an outcome replaces its PENDING try, a later record of
// an attempt that has an outcome (a resumed task recording it again) changes nothing, and trimming a batch's
// sequence takes every attempt whose latest record it holds.
func TestAttemptsBatchKeepsFirstOutcome(t *testing.T) {
	store, view := openAttempts(t)
	tenant, webhook := benchTenant(0), benchWebhook
	now := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	e1, e2 := hookstream.EventLocator(now, 1), hookstream.EventLocator(now, 2)
	a1 := hookstream.DerivedLocator(now, e1, webhook, "0")
	a2 := hookstream.DerivedLocator(now.Add(time.Second), e1, webhook, "1")
	b1 := hookstream.DerivedLocator(now, e2, webhook, "0")
	attempt := func(loc, event string, status hookstream.AttemptStatus, code int) *hookstream.Attempt {
		return &hookstream.Attempt{Locator: loc, Tenant: tenant, Webhook: webhook, Event: event, Status: status, StatusCode: code, Created: now}
	}
	batch := func(attempts ...*hookstream.Attempt) *hookstream.DeliveryRecord {
		return &hookstream.DeliveryRecord{Type: hookstream.RecordAttempts, Tenant: tenant, Webhook: webhook, Time: now, Attempts: attempts}
	}
	records := []*hookstream.DeliveryRecord{
		batch(attempt(a1, e1, hookstream.AttemptFailed, 503), attempt(b1, e2, hookstream.AttemptSuccess, 200),
			attempt(a2, e1, hookstream.AttemptPending, 0)), // seq 1
		{Type: hookstream.RecordAttempt, Tenant: tenant, Webhook: webhook, Event: e2, Time: now,
			Attempt: attempt(b1, e2, hookstream.AttemptFailed, 500)}, // seq 2: b1 recorded again, otherwise
		batch(attempt(a2, e1, hookstream.AttemptSuccess, 200), attempt(b1, e2, hookstream.AttemptSuccess, 204)), // seq 3
	}
	applyRecords(t, store, view, now, records)
	codes := func() map[string]string {
		t.Helper()
		all, err := view.ForWebhook(tenant, webhook)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range all {
			out[a.Locator] = string(a.Status) + "/" + strconv.Itoa(a.StatusCode)
		}
		return out
	}
	want := map[string]string{a1: "FAILED/503", a2: "SUCCESS/200", b1: "SUCCESS/200"}
	if got := codes(); !maps.Equal(got, want) {
		t.Fatalf("attempts after the batches = %v, want %v", got, want)
	}
	for _, event := range []string{e1, e2} {
		if ok, _ := view.Delivered(tenant, webhook, event); !ok {
			t.Errorf("%s not delivered", event)
		}
	}
	if last, _ := view.LatestOutcome(tenant, webhook, e2); last == nil || last.StatusCode != 200 {
		t.Errorf("latest outcome of %s = %+v, want the first record's", e2, last)
	}
	trimBelow(t, view, 2, 2) // seq 1 is the latest record of a1 and b1, not of a2, whose outcome came at seq 3
	if got, want := codes(), map[string]string{a2: "SUCCESS/200"}; !maps.Equal(got, want) {
		t.Fatalf("attempts after trimming seq 1 = %v, want %v", got, want)
	}
	if ok, _ := view.Delivered(tenant, webhook, e2); ok {
		t.Errorf("%s still delivered after its only attempt was trimmed", e2)
	}
	trimBelow(t, view, 4, 1) // seq 3: a2
	if got := codes(); len(got) != 0 {
		t.Fatalf("attempts left after trimming every record: %v", got)
	}
}

// TestAttemptsOutcomes reads several tries' outcomes in one go, as the router does for a batch of events: an
// outcome is returned in its try's place; a PENDING try, a try without a record and another tenant's try are
// nil.
func TestAttemptsOutcomes(t *testing.T) {
	store, view := openAttempts(t)
	tenant, webhook := benchTenant(0), benchWebhook
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e1 := hookstream.EventLocator(now, 1)
	done := hookstream.DerivedLocator(now, e1, webhook, "0")
	pending := hookstream.DerivedLocator(now.Add(time.Second), e1, webhook, "1")
	never := hookstream.DerivedLocator(now.Add(2*time.Second), e1, webhook, "2")
	applyRecords(t, store, view, now, []*hookstream.DeliveryRecord{soloRecord(now, done, e1, hookstream.AttemptFailed),
		soloRecord(now, pending, e1, hookstream.AttemptPending)})
	got, err := view.Outcomes([]projections.AttemptRef{{Tenant: tenant, Locator: pending}, {Tenant: tenant, Locator: done},
		{Tenant: tenant, Locator: never}, {Tenant: benchTenant(1), Locator: done}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != nil || got[1] == nil || got[1].Locator != done || got[1].Status != hookstream.AttemptFailed || got[2] != nil || got[3] != nil {
		t.Fatalf("outcomes %+v; want nil, %s FAILED, nil, nil", got, done)
	}
}
