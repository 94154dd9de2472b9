package sender

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// secretPrefix marks a Standard Webhooks signing secret; requiring it catches
// callers that pass a raw key or some other credential by mistake.
const secretPrefix = "whsec_"

// signatureVersion is the only scheme Standard Webhooks defines for symmetric keys.
const signatureVersion = "v1,"

// ErrInvalidSecret is wrapped by every secret parsing error so callers can
// tell a configuration mistake (reject the endpoint) from other failures.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// decodeSecret returns the HMAC key of a "whsec_<base64>" secret. Both padded
// and unpadded standard base64 are accepted because secrets are often
// copy-pasted from tools that strip the padding. Errors never quote the
// secret: they end up in logs.
func decodeSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrInvalidSecret, secretPrefix)
	}
	enc := base64.RawStdEncoding
	if strings.HasSuffix(b64, "=") {
		enc = base64.StdEncoding
	}
	key, err := enc.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: key is not valid base64: %w", ErrInvalidSecret, err)
	}
	if len(key) == 0 {
		// An empty HMAC key would produce signatures anyone can forge.
		return nil, fmt.Errorf("%w: empty key", ErrInvalidSecret)
	}
	return key, nil
}

// Signer signs messages with one secret. It exists so the delivery hot path
// decodes the secret once and reuses keyed HMAC states instead of re-deriving
// the HMAC pads on every message. It is safe for concurrent use and must not
// be copied.
type Signer struct {
	key    []byte
	states sync.Pool // of *signState
}

// signState is pooled as a unit so a signature costs one allocation: the
// returned string.
type signState struct {
	mac hash.Hash
	buf []byte
}

// NewSigner parses secret ("whsec_" + base64 key) once for repeated signing.
func NewSigner(secret string) (*Signer, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	s := &Signer{key: key}
	s.states.New = func() any {
		return &signState{mac: hmac.New(sha256.New, s.key), buf: make([]byte, 0, 128)}
	}
	return s, nil
}

// Sign returns the "v1,<base64>" Standard Webhooks signature of body. The
// timestamp is truncated to Unix seconds, as receivers only see the
// webhook-timestamp header in seconds.
func (s *Signer) Sign(msgID string, ts time.Time, body []byte) string {
	st := s.states.Get().(*signState)
	defer s.states.Put(st)

	st.mac.Reset()
	b := append(st.buf[:0], msgID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts.Unix(), 10)
	b = append(b, '.')
	st.mac.Write(b)
	st.mac.Write(body)

	// Reuse the scratch buffer for the digest and its encoding; it was fully
	// consumed by Write above.
	b = st.mac.Sum(b[:0])
	sumLen := len(b)
	b = append(b, signatureVersion...)
	b = base64.StdEncoding.AppendEncode(b, b[:sumLen])
	st.buf = b
	return string(b[sumLen:])
}

// Sign returns the "v1,<base64>" Standard Webhooks signature of body under
// secret. It parses the secret on every call; use a Signer on hot paths.
func Sign(secret string, msgID string, timestamp time.Time, body []byte) (string, error) {
	s, err := NewSigner(secret)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return s.Sign(msgID, timestamp, body), nil
}

// SignatureHeader returns the webhook-signature header value: one signature
// per secret, space-separated, in the given order. Signing with several
// secrets lets receivers keep verifying through a rotation grace period,
// whichever of the old or new secret they currently hold.
func SignatureHeader(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		// A header without signatures would fail every receiver's check;
		// better to surface the misconfiguration before sending.
		return "", fmt.Errorf("signature header: %w: no secrets", ErrInvalidSecret)
	}
	var sb strings.Builder
	for i, secret := range secrets {
		sig, err := Sign(secret, msgID, ts, body)
		if err != nil {
			return "", fmt.Errorf("signature header: secret %d: %w", i, err)
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(sig)
	}
	return sb.String(), nil
}
