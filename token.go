package hookstream

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permission names an action a token may take, Socotra style: "<group>.<action>", or "*" for all.
type Permission = string

// The permissions a token can hold.
const (
	PermWebhooksRead   Permission = "webhooks.read"
	PermWebhooksList   Permission = "webhooks.list"
	PermWebhooksWrite  Permission = "webhooks.write"
	PermDivertedRead   Permission = "diverted-events.read"
	PermDivertedList   Permission = "diverted-events.list"
	PermDivertedResend Permission = "diverted-events.resend"
	PermDivertedDelete Permission = "diverted-events.delete"
	PermEventsRead     Permission = "events.read"
	PermEventsList     Permission = "events.list"
	PermEventsWrite    Permission = "events.write"
	PermAll            Permission = "*"
)

// AdminLocator is the actor recorded for changes made with the admin token.
const AdminLocator = "admin"

const (
	maxTokenNameLength           = 255
	maxTokenTenants              = 1000
	maxTokenPermissionsInRequest = 64
	tokenSecretBytes             = 32
	tokenPrefix                  = "hst_"
	adminTokenMinimumLength      = 16
)

// AllPermissions lists every permission a token may be given.
func AllPermissions() []Permission {
	return []Permission{PermWebhooksRead, PermWebhooksList, PermWebhooksWrite, PermDivertedRead, PermDivertedList,
		PermDivertedResend, PermDivertedDelete, PermEventsRead, PermEventsList, PermEventsWrite, PermAll}
}

// Token is an API token's state. Only the SHA-256 of its secret is kept.
type Token struct {
	Locator     string       `json:"locator"`
	Name        string       `json:"name"`
	Tenants     []string     `json:"tenants"`
	Permissions []Permission `json:"permissions"`
	ExpiresAt   *time.Time   `json:"expiresAt,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	CreatedBy   string       `json:"createdBy"`
	Hash        string       `json:"hash"`
	Revoked     bool         `json:"revoked,omitempty"`
	RevokedAt   *time.Time   `json:"revokedAt,omitempty"`
	// Version is the stream sequence of the latest change event.
	Version uint64 `json:"version"`
}

// TokenCreate is the request that mints a token.
type TokenCreate struct {
	Name        string       `json:"name"`
	Tenants     []string     `json:"tenants"`
	Permissions []Permission `json:"permissions"`
	ExpiresAt   *time.Time   `json:"expiresAt"`
}

// Token change event types.
const (
	TokenCreated = "token.created"
	TokenRevoked = "token.revoked"
)

// TokenEvent is one change to a token, as appended to the tokens stream. It never carries the token itself.
type TokenEvent struct {
	Type   string    `json:"type"`
	Token  string    `json:"token"`
	Actor  string    `json:"actor"`
	Time   time.Time `json:"time"`
	Create *Token    `json:"create,omitempty"`
}

// CreateToken validates req and returns the token.created event and the token's secret, shown once.
func CreateToken(locator, actor string, now time.Time, req *TokenCreate) (*TokenEvent, string, error) {
	if req.Name == "" || len(req.Name) > maxTokenNameLength {
		return nil, "", Invalid("name", "is required, at most %d characters", maxTokenNameLength)
	}
	if len(req.Tenants) == 0 || len(req.Tenants) > maxTokenTenants {
		return nil, "", Invalid("tenants", "must list 1 to %d tenant UUIDs", maxTokenTenants)
	}
	for i, t := range req.Tenants {
		if err := CheckTenant(fmt.Sprintf("tenants[%d]", i), t); err != nil {
			return nil, "", err
		}
	}
	if len(req.Permissions) == 0 || len(req.Permissions) > maxTokenPermissionsInRequest {
		return nil, "", Invalid("permissions", "must list 1 to %d permissions", maxTokenPermissionsInRequest)
	}
	for i, p := range req.Permissions {
		if !slices.Contains(AllPermissions(), p) {
			return nil, "", Invalid(fmt.Sprintf("permissions[%d]", i), "unknown permission %q", truncate(p, 64))
		}
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		return nil, "", Invalid("expiresAt", "must be in the future")
	}
	secret := newTokenSecret()
	t := &Token{
		Locator:     locator,
		Name:        req.Name,
		Tenants:     addUnique(nil, req.Tenants),
		Permissions: addUnique(nil, req.Permissions),
		ExpiresAt:   req.ExpiresAt,
		CreatedAt:   now,
		CreatedBy:   actor,
		Hash:        HashToken(secret),
	}
	return &TokenEvent{Type: TokenCreated, Token: locator, Actor: actor, Time: now, Create: t}, secret, nil
}

// RevokeToken returns the token.revoked event.
func RevokeToken(t *Token, actor string, now time.Time) (*TokenEvent, error) {
	if t.Revoked {
		return nil, NotFound("token %s not found", t.Locator)
	}
	return &TokenEvent{Type: TokenRevoked, Token: t.Locator, Actor: actor, Time: now}, nil
}

// Apply folds one change event, at stream sequence seq, into the token's state.
func (t *Token) Apply(e *TokenEvent, seq uint64) error {
	switch e.Type {
	case TokenCreated:
		if e.Create == nil {
			return fmt.Errorf("%s event without create payload", e.Type)
		}
		*t = *e.Create
		t.Tenants, t.Permissions = slices.Clone(t.Tenants), slices.Clone(t.Permissions)
	case TokenRevoked:
		at := e.Time
		t.Revoked, t.RevokedAt = true, &at
	default:
		return fmt.Errorf("unknown token event type %q", e.Type)
	}
	t.Version = seq
	return nil
}

func newTokenSecret() string {
	b := make([]byte, tokenSecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewAdminToken returns a fresh admin token secret.
func NewAdminToken() string { return "hsa_" + newTokenSecret()[len(tokenPrefix):] }

// CheckAdminToken refuses an empty admin token: it would let anyone in.
func CheckAdminToken(s string) error {
	if s == "" {
		return errors.New("the admin token is empty")
	}
	return nil
}

// WeakAdminToken reports an admin token too short to resist guessing. It is accepted, because the operator
// chose it (a laptop's development token, say), but the engine warns about it.
func WeakAdminToken(s string) bool { return len(s) < adminTokenMinimumLength }

// HashToken returns the hex SHA-256 of a token secret. Tokens are high-entropy, so an unsalted fast hash is
// enough to make a leaked store useless.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// HashesEqual compares two token hashes in constant time.
func HashesEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Principal is the caller of an API request, as established from its token.
type Principal struct {
	Locator     string
	Admin       bool
	Tenants     []string
	Permissions []Permission
}

// PrincipalOf returns the principal of an active token, or an Unauthorized error.
func PrincipalOf(t *Token, now time.Time) (*Principal, error) {
	if t.Revoked {
		return nil, Unauthorized("token revoked")
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return nil, Unauthorized("token expired")
	}
	return &Principal{Locator: t.Locator, Tenants: t.Tenants, Permissions: t.Permissions}, nil
}

// Has reports whether the principal holds one of perms.
func (p *Principal) Has(perms ...Permission) bool {
	if p.Admin || slices.Contains(p.Permissions, PermAll) {
		return true
	}
	for _, perm := range perms {
		if slices.Contains(p.Permissions, perm) {
			return true
		}
	}
	return false
}

// Authorize returns a Forbidden error unless the principal may act on tenant with one of perms.
func (p *Principal) Authorize(tenant string, perms ...Permission) error {
	if len(perms) == 0 || !p.Has(perms...) {
		return Forbidden("token lacks permission %s", strings.Join(perms, " or "))
	}
	if !p.Admin && !slices.Contains(p.Tenants, tenant) {
		return Forbidden("token has no access to tenant %s", tenant)
	}
	return nil
}
