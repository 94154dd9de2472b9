package hookstream

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestValidTenant(t *testing.T) {
	nonASCII := "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9dé" // 36 bytes, last "hex" pair is é
	if len(nonASCII) != 36 {
		t.Fatalf("fixture is %d bytes", len(nonASCII))
	}
	tests := []struct {
		s    string
		want bool
	}{
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10", true},
		{"0b9d2c1e-7a4f-4e3b-8c2d-1f0e9d8c7b6a", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"", false},
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d1", false},   // 35
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d100", false}, // 37
		{"6f1c5f3e0d7e4c559a362a3f1b2c9d10", false},      // no dashes
		{"{6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10}", false},
		{"urn:uuid:6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10", false},
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d1g", false},
		{"6f1c5f3e00d7e-4c55-9a36-2a3f1b2c9d10", false}, // dash moved
		{"6f1c5f3e-0d7e-4c55-9a36_2a3f1b2c9d10", false},
		{" 6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d1", false},
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d1\n", false},
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d1\x00", false},
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10.", false},
		{"a.b.c", false},
		{"*", false},
		{">", false},
		{nonASCII, false},
		{strings.Repeat("é", 18), false}, // 36 bytes
		{strings.Repeat("6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10", 139), false},
		{strings.Repeat("a", 5000), false},
		{strings.Repeat("é", 5000), false},
	}
	for _, tt := range tests {
		if got := ValidTenant(tt.s); got != tt.want {
			t.Errorf("ValidTenant(%q) = %v, want %v", truncate(tt.s, 60), got, tt.want)
		}
		err := CheckTenant("tenantLocator", tt.s)
		if tt.want {
			if err != nil {
				t.Errorf("CheckTenant(%q) = %v", tt.s, err)
			}
			continue
		}
		wantError(t, err, CodeInvalid, "tenantLocator")
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("CheckTenant message is not bounded: %d bytes", len(err.Error()))
		}
	}
}

// TestCheckTenantAsksForLowercase checks that an uppercase tenant UUID is refused with the spelling to use.
func TestCheckTenantAsksForLowercase(t *testing.T) {
	err := CheckTenant("tenantLocator", "6F1C5F3E-0D7E-4C55-9A36-2A3F1B2C9D10")
	wantError(t, err, CodeInvalid, "tenantLocator")
	if err == nil || !strings.Contains(err.Error(), "lowercase") || !strings.Contains(err.Error(), "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10") {
		t.Errorf("CheckTenant(uppercase) = %v, want it to ask for the lowercase spelling", err)
	}
}

func TestValidLocator(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 26, 53, 123e6, time.UTC)
	fresh := NewLocator(now)
	id, err := ulid.ParseStrict(fresh)
	if err != nil {
		t.Fatalf("NewLocator gave %q: %v", fresh, err)
	}
	if got := ulid.Time(id.Time()); !got.Equal(now) {
		t.Errorf("NewLocator time = %v, want %v", got, now)
	}
	if NewLocator(now) == fresh {
		t.Errorf("two locators at the same instant are equal")
	}
	tests := []struct {
		s    string
		want bool
	}{
		{fresh, true},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", true},
		{"00000000000000000000000000", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true}, // the largest ULID
		{"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"ZZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", false},   // 25
		{"01ARZ3NDEKTSV4RRFFQ69G5FAVX", false}, // 27
		{"01ARZ3NDEKTSV4RRFFQ69G5FAU", false},  // U is not Crockford base32
		{"01ARZ3NDEKTSV4RRFFQ69G5FAI", false},  // nor I
		{"01ARZ3NDEKTSV4RRFFQ69G5FAL", false},  // nor L
		{"01ARZ3NDEKTSV4RRFFQ69G5FAO", false},  // nor O
		{"01ARZ3NDEKTSV4RRFFQ69G5FA-", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA ", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5F\x00A", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5é", false}, // 26 bytes
		{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10", false},
		{strings.Repeat("0", 5000), false},
		{strings.Repeat("é", 13), false},
		{strings.Repeat("é", 5000), false},
	}
	for _, tt := range tests {
		if got := ValidLocator(tt.s); got != tt.want {
			t.Errorf("ValidLocator(%q) = %v, want %v", truncate(tt.s, 60), got, tt.want)
		}
		err := CheckLocator("webhookLocator", tt.s)
		if tt.want {
			if err != nil {
				t.Errorf("CheckLocator(%q) = %v", tt.s, err)
			}
			continue
		}
		wantError(t, err, CodeInvalid, "webhookLocator")
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("CheckLocator message is not bounded: %d bytes", len(err.Error()))
		}
	}
}

func TestCheckEventType(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"policy.issue", true},
		{"card.created", true},
		{"a", true},
		{"A-b_c.9", true},
		{"a.b.c.d.e", true},
		{"-.-", true},
		{"_", true},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("ab.", 84) + "abc", true}, // 255
		{"", false},
		{".", false},
		{"..", false},
		{"a..b", false},
		{".a", false},
		{"a.", false},
		{"a b", false},
		{" a", false},
		{"a ", false},
		{"a\tb", false},
		{"a\n", false},
		{"a\x00", false},
		{"a*", false},
		{"a.*", false},
		{"a.>", false},
		{">", false},
		{"a/b", false},
		{"a:b", false},
		{"a,b", false},
		{"é", false},
		{"policy.issué", false},
		{"card.créé", false},
		{"日本.語", false},
		{"a\u200bb", false}, // zero-width space
		{"ａ", false},        // fullwidth a
		{strings.Repeat("x", 256), false},
		{strings.Repeat("ab.", 85), false},
		{strings.Repeat("x", 5000), false},
		{strings.Repeat("a.", 2500), false},
		{strings.Repeat("é", 5000), false},
	}
	for _, tt := range tests {
		err := CheckEventType("type", tt.s)
		if tt.want {
			if err != nil {
				t.Errorf("CheckEventType(%q) = %v", truncate(tt.s, 60), err)
			}
			continue
		}
		wantError(t, err, CodeInvalid, "type")
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("CheckEventType message is not bounded: %d bytes", len(err.Error()))
		}
	}
	if err := CheckEventType("eventTypes[3]", "a..b"); err == nil || err.(*Error).Field != "eventTypes[3]" {
		t.Errorf("field not passed through: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("abc", 3); got != "abc" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("abcd", 3); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
	// Truncation is by bytes; it may split a rune but must not panic or grow.
	if got := truncate(strings.Repeat("é", 100), 5); len(got) != 5+len("…") {
		t.Errorf("truncate = %q", got)
	}
}
