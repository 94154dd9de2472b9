package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/hookstream/hookstream"
)

// TokenFinder finds a live token by the hash of its secret (nil when none).
type TokenFinder interface {
	ByHash(hash string) (*hookstream.Token, error)
}

// authenticator establishes the principal of a request from its Authorization header: "Bearer <token>" or,
// as the Lithic SDK sends it, the bare token.
type authenticator struct {
	adminHash string
	tokens    TokenFinder
	now       func() time.Time
}

func (a *authenticator) authenticate(r *http.Request) (*hookstream.Principal, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return nil, hookstream.Unauthorized("missing Authorization header")
	}
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		h = strings.TrimSpace(rest)
	}
	if h == "" || len(h) > 512 {
		return nil, hookstream.Unauthorized("invalid token")
	}
	hash := hookstream.HashToken(h)
	if a.adminHash != "" && hookstream.HashesEqual(hash, a.adminHash) {
		return &hookstream.Principal{Locator: hookstream.AdminLocator, Admin: true}, nil
	}
	// The lookup is by hash, so timing reveals nothing about the secret; the equality check on the stored
	// hash is constant-time anyway.
	t, err := a.tokens.ByHash(hash)
	if err != nil {
		return nil, err
	}
	if t == nil || !hookstream.HashesEqual(t.Hash, hash) {
		return nil, hookstream.Unauthorized("invalid token")
	}
	return hookstream.PrincipalOf(t, a.now())
}
