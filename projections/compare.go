package projections

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// CheckUnlocked returns an error when another process (a running server) holds the views file at path. A
// missing file is fine.
func CheckUnlocked(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("%s is in use: stop the server first", path)
	}
	if err != nil {
		return nil // unreadable: a rebuild replaces it anyway
	}
	return db.Close()
}

// maxReported bounds the differences Compare lists.
const maxReported = 20

// Compare reports how the views file at path differs from the one at want, bucket by bucket and key by key
// (the cursors in the meta bucket included), as readable lines; none when they hold the same bytes.
func Compare(path, want string) ([]string, error) {
	a, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer a.Close()
	b, err := bolt.Open(want, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", want, err)
	}
	defer b.Close()
	var diffs []string
	report := func(format string, args ...any) {
		if len(diffs) < maxReported {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		} else if len(diffs) == maxReported {
			diffs = append(diffs, "… more differences not listed")
		}
	}
	err = a.View(func(ta *bolt.Tx) error {
		return b.View(func(tb *bolt.Tx) error {
			names := map[string]bool{}
			_ = ta.ForEach(func(name []byte, _ *bolt.Bucket) error { names[string(name)] = true; return nil })
			_ = tb.ForEach(func(name []byte, _ *bolt.Bucket) error { names[string(name)] = true; return nil })
			for name := range names {
				ba, bb := ta.Bucket([]byte(name)), tb.Bucket([]byte(name))
				switch {
				case ba == nil:
					report("bucket %s missing from the views", name)
				case bb == nil:
					report("bucket %s is not in a rebuild", name)
				default:
					compareBucket(name, ba, bb, report)
				}
			}
			return nil
		})
	})
	return diffs, err
}

func compareBucket(name string, a, b *bolt.Bucket, report func(string, ...any)) {
	ca, cb := a.Cursor(), b.Cursor()
	ka, va := ca.First()
	kb, vb := cb.First()
	for ka != nil || kb != nil {
		switch c := compareKeys(ka, kb); {
		case c < 0:
			report("%s: %q is in the views but not in a rebuild", name, ka)
			ka, va = ca.Next()
		case c > 0:
			report("%s: %q is missing from the views", name, kb)
			kb, vb = cb.Next()
		default:
			if !bytes.Equal(va, vb) {
				report("%s: %q differs", name, ka)
			}
			ka, va = ca.Next()
			kb, vb = cb.Next()
		}
	}
}

// compareKeys orders keys with nil (exhausted) last.
func compareKeys(a, b []byte) int {
	switch {
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}
