package projections

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Giving the views file's mapped pages back must leave every value readable and unchanged, in the read
// transaction that gave them back and in later ones.
func TestDropResidentKeepsTheFileReadable(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "views.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprint(i)), 100) }
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 5000 {
			if err := b.Put([]byte(fmt.Sprintf("k%05d", i)), value(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 5000 {
			if got := b.Get([]byte(fmt.Sprintf("k%05d", i))); !bytes.Equal(got, value(i)) {
				return fmt.Errorf("key %d reads %q", i, got)
			}
		}
		return nil
	}
	err = db.View(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		if err := dropResident(db.Info().Data, tx.Size()); err != nil {
			return err
		}
		return check(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(check); err != nil {
		t.Fatal(err)
	}
}
