package audit

import (
	"strings"
	"testing"
	"time"
)

func TestRedactKeepsOrderAndMasksSecrets(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	in := `{"type":"webhook.created","n":1.50,"create":{"name":"x","endpoint":{"url":"u","secret":"` + secret + `",` +
		`"previousSecret":"whsec_ab","headers":{"X":["whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]}},"eventTypes":["a","b"],"ok":true,"none":null}}`
	out, err := redact([]byte(in), maskWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"webhook.created","n":1.50,"create":{"name":"x","endpoint":{"url":"u","secret":"whsec_…LaSw",` +
		`"previousSecret":"whsec_…","headers":{"X":["whsec_…AAAA"]}},"eventTypes":["a","b"],"ok":true,"none":null}}`
	if string(out) != want {
		t.Fatalf("redact\n got %s\nwant %s", out, want)
	}
	hash := strings.Repeat("ab", 31) + "cdef"
	out, err = redact([]byte(`{"create":{"hash":"`+hash+`","name":"hst_notasecret"}}`), maskTokenHash)
	if err != nil || string(out) != `{"create":{"hash":"sha256:…cdef","name":"hst_…"}}` {
		t.Fatalf("token redact: %s, %v", out, err)
	}
	if _, err := redact([]byte(`{"a":`), maskTokenHash); err == nil {
		t.Fatal("redact of broken JSON succeeded")
	}
}

func TestMaskText(t *testing.T) {
	s := maskWebhookSecretsInText(`garbage "secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" tail`)
	if s != `garbage "secret":"whsec_…LaSw" tail` {
		t.Fatal(s)
	}
	hash := strings.Repeat("0", 60) + "beef"
	if s := maskTokenHashesInText("h=" + hash + " t=hst_abc"); s != "h=sha256:…beef t=hst_…" {
		t.Fatal(s)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                               {},
		"24h":                            now.Add(-24 * time.Hour),
		"90m":                            now.Add(-90 * time.Minute),
		"2026-04-30T10:00:00Z":           time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC),
		"2026-04-30T10:00:00.5+02:00":    time.Date(2026, 4, 30, 8, 0, 0, 5e8, time.UTC),
		"2026-04-30T10:00:00.123456789Z": time.Date(2026, 4, 30, 10, 0, 0, 123456789, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"garbage", "-1h", "2026-04-30", "yesterday"} {
		if _, err := ParseTime(in, now); err == nil {
			t.Errorf("ParseTime(%q) succeeded", in)
		}
	}
}

func TestParseStreams(t *testing.T) {
	if s, err := ParseStreams("all"); err != nil || s != nil {
		t.Fatalf("all: %v, %v", s, err)
	}
	s, err := ParseStreams("tokens, events,tokens")
	if err != nil || len(s) != 2 || s[0] != StreamTokens || s[1] != StreamEvents {
		t.Fatalf("list: %v, %v", s, err)
	}
	if _, err := ParseStreams("events,nope"); err == nil || !strings.HasPrefix(err.Error(), "stream: ") {
		t.Fatalf("nope: %v", err)
	}
}
