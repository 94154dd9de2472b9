package projections

import (
	"encoding/json"
	"fmt"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	bolt "go.etcd.io/bbolt"
)

// TokensView is the name of the tokens view.
const TokensView = "tokens"

var (
	tokensBucket = []byte("tokens")       // locator → Token
	tokenHashes  = []byte("token_hashes") // hash → locator
)

// Tokens is the view of API tokens, found by locator or by the hash of their secret.
type Tokens struct{ store *Store }

// NewTokens returns the tokens view over store.
func NewTokens(store *Store) *Tokens { return &Tokens{store: store} }

// Name implements View.
func (*Tokens) Name() string { return TokensView }

// Stream implements View.
func (*Tokens) Stream() string { return broker.KindTokens }

// Buckets implements View.
func (*Tokens) Buckets() []string { return []string{string(tokensBucket), string(tokenHashes)} }

// Apply implements View.
func (*Tokens) Apply(tx *bolt.Tx, m *Msg) error {
	var e hookstream.TokenEvent
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return Skip(fmt.Errorf("decode token event: %w", err))
	}
	b := tx.Bucket(tokensBucket)
	var t hookstream.Token
	if v := b.Get([]byte(e.Token)); v != nil {
		if err := json.Unmarshal(v, &t); err != nil {
			return Skip(fmt.Errorf("decode stored token %s: %w", e.Token, err))
		}
	} else if e.Type != hookstream.TokenCreated {
		return Skip(fmt.Errorf("%s for unknown token %s", e.Type, e.Token))
	}
	if err := t.Apply(&e, m.Seq); err != nil {
		return Skip(err)
	}
	data, err := json.Marshal(&t)
	if err != nil {
		return fmt.Errorf("encode token: %w", err)
	}
	if err := b.Put([]byte(t.Locator), data); err != nil {
		return err
	}
	if t.Revoked {
		return tx.Bucket(tokenHashes).Delete([]byte(t.Hash))
	}
	return tx.Bucket(tokenHashes).Put([]byte(t.Hash), []byte(t.Locator))
}

// ByHash returns the live token whose secret hashes to hash, or nil.
func (v *Tokens) ByHash(hash string) (*hookstream.Token, error) {
	var t *hookstream.Token
	err := v.store.db.View(func(tx *bolt.Tx) error {
		loc := tx.Bucket(tokenHashes).Get([]byte(hash))
		if loc == nil {
			return nil
		}
		var err error
		t, err = getToken(tx, string(loc))
		return err
	})
	return t, err
}

// Get returns a token that is not revoked, or a NotFound error.
func (v *Tokens) Get(locator string) (*hookstream.Token, error) {
	var t *hookstream.Token
	err := v.store.db.View(func(tx *bolt.Tx) error {
		var err error
		t, err = getToken(tx, locator)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t == nil || t.Revoked {
		return nil, hookstream.NotFound("token %s not found", locator)
	}
	return t, nil
}

// List returns every token that is not revoked, oldest first.
func (v *Tokens) List() ([]*hookstream.Token, error) {
	var out []*hookstream.Token
	err := v.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(tokensBucket).ForEach(func(k, data []byte) error {
			var t hookstream.Token
			if err := json.Unmarshal(data, &t); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			if !t.Revoked {
				out = append(out, &t)
			}
			return nil
		})
	})
	return out, err
}

func getToken(tx *bolt.Tx, locator string) (*hookstream.Token, error) {
	data := tx.Bucket(tokensBucket).Get([]byte(locator))
	if data == nil {
		return nil, nil
	}
	var t hookstream.Token
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode token %s: %w", locator, err)
	}
	return &t, nil
}
