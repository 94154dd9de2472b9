package hookstream

import (
	"crypto/rand"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/oklog/ulid/v2"
)

// NewLocator returns a new ULID locator for a webhook, token or attempt.
func NewLocator(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}

// ValidTenant reports whether s is a tenant locator: a UUID in its canonical 36-character form.
func ValidTenant(s string) bool {
	// Only the canonical lowercase form: one tenant must not be reachable under two spellings.
	if len(s) != 36 || strings.ToLower(s) != s {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// ValidLocator reports whether s is a ULID locator (26 characters of Crockford base32).
func ValidLocator(s string) bool {
	if len(s) != ulid.EncodedSize || strings.ToUpper(s) != s {
		return false
	}
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// CheckTenant returns an Invalid error naming field unless s is a tenant locator. A UUID in uppercase is
// refused, not normalised, with the lowercase spelling to use: a tenant has one spelling everywhere.
func CheckTenant(field, s string) error {
	switch {
	case ValidTenant(s):
		return nil
	case ValidTenant(strings.ToLower(s)):
		return Invalid(field, "must be a lowercase UUID, got %q (use %q)", s, strings.ToLower(s))
	default:
		return Invalid(field, "must be a lowercase UUID, got %q", truncate(s, 64))
	}
}

// CheckLocator returns an Invalid error naming field unless s is a ULID locator.
func CheckLocator(field, s string) error {
	if !ValidLocator(s) {
		return Invalid(field, "must be a ULID locator, got %q", truncate(s, 64))
	}
	return nil
}

// eventTypePattern keeps types usable as NATS subject tokens: dot-separated, no empty segment.
var eventTypePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// MaxEventTypeLength bounds an event type name.
const MaxEventTypeLength = 255

// CheckEventType returns an Invalid error naming field unless s is an event type name: dot-separated segments
// of [A-Za-z0-9_-], 1..255 characters in all.
func CheckEventType(field, s string) error {
	if s == "" || len(s) > MaxEventTypeLength || !eventTypePattern.MatchString(s) {
		return Invalid(field, "must be 1..255 characters of [A-Za-z0-9_.-] in non-empty dot-separated segments, got %q", truncate(s, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
