package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookstream/hookstream"
	bolt "go.etcd.io/bbolt"
)

// EachSince calls fn with each attempt of a webhook created at or after since, oldest first, in one read
// transaction. The per-webhook index is ordered by creation time, so the walk starts at since rather than
// reading the webhook's whole history.
func (v *Attempts) EachSince(tenant, webhook string, since time.Time, fn func(*hookstream.Attempt)) error {
	prefix := key(tenant, webhook, "")
	var from uint64
	if since.After(time.Unix(0, 0)) {
		from = uint64(since.UnixNano())
	}
	return v.store.db.View(func(tx *bolt.Tx) error {
		attempts := tx.Bucket(attemptsBucket)
		c := tx.Bucket(attemptsByHook).Cursor()
		for k, _ := c.Seek(seqKey(prefix, from)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := attempts.Get(key(tenant, indexedLocator(prefix, k)))
			if v == nil {
				continue
			}
			a, err := decodeEntry(v)
			if err != nil {
				return err
			}
			fn(a)
		}
		return nil
	})
}

// CountDiverted returns how many diverted events a webhook holds.
func (v *Diverted) CountDiverted(tenant, webhook string) (int, error) {
	n := 0
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, webhook, "")
		c := tx.Bucket(divertedBucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// CountSince returns how many of tenant's events have a timestamp at or after since. It walks back from the
// newest event and stops once events are older than since by more than the ingestion order's slack.
func (v *Events) CountSince(tenant string, since time.Time) (int, error) {
	n := 0
	stop := since.Add(-timeOrderSlack)
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, "")
		c := tx.Bucket(eventsBucket).Cursor()
		var data []byte
		k, _ := c.Seek(append(bytes.Clone(prefix), 0xff))
		if k == nil {
			k, data = c.Last()
		} else {
			k, data = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, data = c.Prev() {
			var e struct {
				Timestamp time.Time `json:"timestamp"`
			}
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			if e.Timestamp.Before(stop) {
				return nil
			}
			if !e.Timestamp.Before(since) {
				n++
			}
		}
		return nil
	})
	return n, err
}
