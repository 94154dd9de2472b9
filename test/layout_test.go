package test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestViewOfAnEarlierLayoutIsRebuilt upgrades a views file whose attempts view was written with the layout
// before versions (values without their sequence, the buckets since folded): the view is rebuilt from the
// stream at start, answers as before, and the retired buckets are gone.
func TestViewOfAnEarlierLayoutIsRebuilt(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	webhook := h.createWebhook(tenantA, webhookBody("layout", rc.url("/layout"), nil))
	for i := range 3 {
		h.publishHTTP(tenantA, "policy.issue", map[string]any{"i": i})
	}
	rc.waitFor(t, 3, 10*time.Second)
	token, _ := h.mintToken([]string{tenantA}, "*")
	path := "/v1/event_subscriptions/" + webhook + "/attempts"
	var before v1PageOf[v1AttemptJSON]
	eventually(t, 10*time.Second, "three attempts listed", func() bool {
		expect(t, h.v1(http.MethodGet, path, token, nil), http.StatusOK).json(t, &before)
		return len(before.Data) == 3
	})
	h.stop()

	// Make the file what the previous layout wrote: a 16-byte cursor, bare JSON values, a retired bucket.
	db, err := bolt.Open(filepath.Join(h.cfg.Data, "views.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		cursor := meta.Get([]byte("cursor/attempts"))
		if len(cursor) != 24 {
			t.Fatalf("attempts cursor has %d bytes, want 24 (with its layout)", len(cursor))
		}
		if err := meta.Put([]byte("cursor/attempts"), append([]byte(nil), cursor[:16]...)); err != nil {
			return err
		}
		attempts := tx.Bucket([]byte("attempts"))
		bare := map[string][]byte{}
		_ = attempts.ForEach(func(k, v []byte) error { bare[string(k)] = append([]byte(nil), v[8:]...); return nil })
		for k, v := range bare {
			if err := attempts.Put([]byte(k), v); err != nil {
				return err
			}
		}
		retired, err := tx.CreateBucket([]byte("attempt_seq"))
		if err != nil {
			return err
		}
		return retired.Put([]byte("x"), []byte("y"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h.start()
	var after v1PageOf[v1AttemptJSON]
	eventually(t, 10*time.Second, "the attempts listed again after the rebuild", func() bool {
		r := h.v1(http.MethodGet, path, token, nil)
		if r.status != http.StatusOK {
			return false
		}
		r.json(t, &after)
		return len(after.Data) == 3
	})
	for i := range before.Data {
		if after.Data[i] != before.Data[i] {
			t.Errorf("attempt %d after the rebuild: %+v, before: %+v", i, after.Data[i], before.Data[i])
		}
	}
	h.stop()
	db, err = bolt.Open(filepath.Join(h.cfg.Data, "views.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("attempt_seq")) != nil {
			t.Error("the retired bucket attempt_seq is still in the file")
		}
		if n := len(tx.Bucket([]byte("meta")).Get([]byte("cursor/attempts"))); n != 24 {
			t.Errorf("attempts cursor has %d bytes after the rebuild, want 24", n)
		}
		return nil
	})
}
