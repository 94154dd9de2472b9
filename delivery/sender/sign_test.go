package sender_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/delivery/sender"
)

const (
	// Test vector from the Standard Webhooks reference library.
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vectorTime = time.Unix(1614265330, 0)

func secretFromKey(key []byte, padded bool) string {
	if padded {
		return "whsec_" + base64.StdEncoding.EncodeToString(key)
	}
	return "whsec_" + base64.RawStdEncoding.EncodeToString(key)
}

func verifyHeaders(msgID string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

func TestSignKnownVector(t *testing.T) {
	got, err := sender.Sign(vectorSecret, vectorMsgID, vectorTime, []byte(vectorBody))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got != vectorSig {
		t.Errorf("Sign = %q, want %q", got, vectorSig)
	}
}

func TestSignVerifiesWithReferenceLibrary(t *testing.T) {
	key := bytes.Repeat([]byte{0xa5, 0x01, 0xfe}, 11) // 33 bytes: unpadded form differs from padded
	key2 := []byte("0123456789abcdef0123456789abcd")  // 30 bytes: needs padding
	now := time.Now()
	tests := []struct {
		name   string
		key    []byte
		padded bool
		msgID  string
		ts     time.Time
		body   []byte
	}{
		{"padded secret", key2, true, "msg_1", now, []byte(`{"type":"ping"}`)},
		{"unpadded secret", key2, false, "msg_2", now, []byte(`{"type":"ping"}`)},
		{"no padding needed", key, true, "msg_3", now, []byte("x")},
		{"empty body", key, true, "msg_4", now, nil},
		{"binary body", key2, true, "msg_5", now, []byte{0, 1, 2, 0xff, '.', '\n'}},
		{"sub-second timestamp truncated", key2, true, "msg_6", now.Truncate(time.Second).Add(999 * time.Millisecond), []byte("{}")},
		{"large body", key, false, "msg_7", now, bytes.Repeat([]byte("a"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := secretFromKey(tt.key, tt.padded)
			sig, err := sender.Sign(secret, tt.msgID, tt.ts, tt.body)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !strings.HasPrefix(sig, "v1,") {
				t.Fatalf("signature %q lacks v1 prefix", sig)
			}
			wh, err := standardwebhooks.NewWebhookRaw(tt.key)
			if err != nil {
				t.Fatalf("NewWebhookRaw: %v", err)
			}
			if err := wh.Verify(tt.body, verifyHeaders(tt.msgID, tt.ts, sig)); err != nil {
				t.Errorf("reference Verify: %v", err)
			}
			want, err := wh.Sign(tt.msgID, tt.ts, tt.body)
			if err != nil {
				t.Fatalf("reference Sign: %v", err)
			}
			if sig != want {
				t.Errorf("Sign = %q, reference = %q", sig, want)
			}
			if tt.padded {
				// The reference parser only takes padded secrets.
				wh2, err := standardwebhooks.NewWebhook(secret)
				if err != nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				if err := wh2.Verify(tt.body, verifyHeaders(tt.msgID, tt.ts, sig)); err != nil {
					t.Errorf("reference Verify with parsed secret: %v", err)
				}
			}
		})
	}
}

func TestSignatureHeaderRotation(t *testing.T) {
	newSecret := secretFromKey([]byte("new-secret-key-new-secret-key-32"), true)
	oldSecret := secretFromKey([]byte("old-secret-key-old-secret-key"), false)
	msgID, ts, body := "msg_rot", time.Now(), []byte(`{"n":1}`)

	header, err := sender.SignatureHeader([]string{newSecret, oldSecret}, msgID, ts, body)
	if err != nil {
		t.Fatalf("SignatureHeader: %v", err)
	}
	parts := strings.Split(header, " ")
	if len(parts) != 2 {
		t.Fatalf("header %q: want 2 space-separated signatures", header)
	}
	for i, secret := range []string{newSecret, oldSecret} {
		want, err := sender.Sign(secret, msgID, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		if parts[i] != want {
			t.Errorf("signature %d = %q, want %q (order must follow secrets)", i, parts[i], want)
		}
	}

	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"new secret", []byte("new-secret-key-new-secret-key-32")},
		{"old secret", []byte("old-secret-key-old-secret-key")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wh, err := standardwebhooks.NewWebhookRaw(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(body, verifyHeaders(msgID, ts, header)); err != nil {
				t.Errorf("reference Verify: %v", err)
			}
		})
	}

	t.Run("unrelated secret rejected", func(t *testing.T) {
		wh, err := standardwebhooks.NewWebhookRaw([]byte("someone-else"))
		if err != nil {
			t.Fatal(err)
		}
		err = wh.Verify(body, verifyHeaders(msgID, ts, header))
		if !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("reference Verify = %v, want ErrNoMatchingSignature", err)
		}
	})
}

func TestSignatureHeaderSingle(t *testing.T) {
	header, err := sender.SignatureHeader([]string{vectorSecret}, vectorMsgID, vectorTime, []byte(vectorBody))
	if err != nil {
		t.Fatalf("SignatureHeader: %v", err)
	}
	if header != vectorSig {
		t.Errorf("SignatureHeader = %q, want %q", header, vectorSig)
	}
	wh, err := standardwebhooks.NewWebhook(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp([]byte(vectorBody), verifyHeaders(vectorMsgID, vectorTime, header)); err != nil {
		t.Errorf("reference Verify: %v", err)
	}
}

func TestMalformedSecrets(t *testing.T) {
	tests := []struct {
		name   string
		secret string
	}{
		{"empty", ""},
		{"missing prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"wrong prefix", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"uppercase prefix", "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"empty key", "whsec_"},
		{"invalid base64 char", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La*aSw"},
		{"url-safe alphabet", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-_Sw"},
		{"impossible length", "whsec_MfKQ9"},
		{"wrong padding", "whsec_MfKQ9r8=="},
		{"padding only", "whsec_===="},
		{"space inside", "whsec_MfKQ 9r8GKYqr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sender.Sign(tt.secret, "msg", time.Unix(1, 0), nil); !errors.Is(err, sender.ErrInvalidSecret) {
				t.Errorf("Sign error = %v, want ErrInvalidSecret", err)
			}
			if s, err := sender.NewSigner(tt.secret); s != nil || !errors.Is(err, sender.ErrInvalidSecret) {
				t.Errorf("NewSigner = %v, %v, want nil, ErrInvalidSecret", s, err)
			}
			_, err := sender.SignatureHeader([]string{vectorSecret, tt.secret}, "msg", time.Unix(1, 0), nil)
			if !errors.Is(err, sender.ErrInvalidSecret) {
				t.Fatalf("SignatureHeader error = %v, want ErrInvalidSecret", err)
			}
			if !strings.Contains(err.Error(), "secret 1") {
				t.Errorf("SignatureHeader error %q does not name the bad secret's index", err)
			}
			if key := strings.TrimPrefix(tt.secret, "whsec_"); len(key) > 4 && strings.Contains(err.Error(), key) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestSignatureHeaderNoSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {}} {
		if _, err := sender.SignatureHeader(secrets, "msg", time.Unix(1, 0), nil); !errors.Is(err, sender.ErrInvalidSecret) {
			t.Errorf("SignatureHeader(%v) error = %v, want ErrInvalidSecret", secrets, err)
		}
	}
}

func TestSignerMatchesSignAndIsReusable(t *testing.T) {
	s, err := sender.NewSigner(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	// Repeated and interleaved calls must not leak state between messages.
	for i := range 3 {
		if got := s.Sign(vectorMsgID, vectorTime, []byte(vectorBody)); got != vectorSig {
			t.Fatalf("call %d: Sign = %q, want %q", i, got, vectorSig)
		}
		long := strings.Repeat("m", 300) // longer than the scratch buffer
		want, err := sender.Sign(vectorSecret, long, vectorTime, []byte("b"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sign(long, vectorTime, []byte("b")); got != want {
			t.Fatalf("call %d: long msgID Sign = %q, want %q", i, got, want)
		}
	}
}

func TestSignerConcurrent(t *testing.T) {
	s, err := sender.NewSigner(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := s.Sign(vectorMsgID, vectorTime, []byte(vectorBody)); got != vectorSig {
					t.Errorf("concurrent Sign = %q, want %q", got, vectorSig)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSign(b *testing.B) {
	s, err := sender.NewSigner(secretFromKey(bytes.Repeat([]byte{7}, 32), true))
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 512)
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign("msg_2aGkLMQk3ZgS9ZKP7rvbwVXmXIq", ts, body)
	}
}
