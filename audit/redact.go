package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// maskFunc returns what a string value under key becomes in the output (s itself when it is no secret).
type maskFunc func(key, s string) string

// secretPrefix starts every webhook signing secret.
const secretPrefix = "whsec_"

// MaskSecret shows a webhook secret as "whsec_…" and its last four characters (nothing of a secret too
// short to spare four).
func MaskSecret(s string) string {
	if len(s) <= 10 {
		return secretPrefix + "…"
	}
	return secretPrefix + "…" + s[len(s)-4:]
}

// MaskHash shows a token hash as "sha256:…" and its last four characters.
func MaskHash(s string) string {
	if len(s) <= 8 {
		return "sha256:…"
	}
	return "sha256:…" + s[len(s)-4:]
}

// maskWebhookSecret masks the secret and previousSecret fields wherever they are (create.endpoint,
// create.failureHandling.alertEndpoint, the same under update, the secret of webhook.secret_rotated), and
// any other string that looks like a secret.
func maskWebhookSecret(key, s string) string {
	if s == "" {
		return s
	}
	if key == "secret" || key == "previousSecret" || strings.HasPrefix(s, secretPrefix) {
		return MaskSecret(s)
	}
	return s
}

// maskTokenHash masks token hashes. Token events never carry a token; anything shaped like one is masked
// all the same.
func maskTokenHash(key, s string) string {
	switch {
	case s == "":
		return s
	case key == "hash":
		return MaskHash(s)
	case strings.HasPrefix(s, "hst_") || strings.HasPrefix(s, "hsa_"):
		return s[:4] + "…"
	}
	return s
}

// secretText and hashText find secrets and hashes in text that is not valid JSON. Compiled once, never
// changed.
var (
	secretText = regexp.MustCompile(`whsec_[A-Za-z0-9+/=_-]*`)
	hashText   = regexp.MustCompile(`[0-9a-fA-F]{64}|hs[ta]_[A-Za-z0-9_-]+`)
)

func maskWebhookSecretsInText(s string) string { return secretText.ReplaceAllStringFunc(s, MaskSecret) }

func maskTokenHashesInText(s string) string {
	return hashText.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "hst_") || strings.HasPrefix(m, "hsa_") {
			return m[:4] + "…"
		}
		return MaskHash(m)
	})
}

// redact returns the JSON value data with every string value replaced by mask(key, value), where key is
// the name of the object member the value belongs to (for array elements, the array's). Object members
// keep their order, so an entry reads as it was stored.
func redact(data []byte, mask maskFunc) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := redactValue(&buf, bytes.TrimSpace(data), "", mask); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func redactValue(dst *bytes.Buffer, v []byte, key string, mask maskFunc) error {
	if len(v) == 0 {
		return errors.New("empty JSON value")
	}
	switch v[0] {
	case '{', '[':
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("read JSON: %w", err)
		}
		isObject := v[0] == '{'
		dst.WriteByte(v[0])
		for i := 0; dec.More(); i++ {
			if i > 0 {
				dst.WriteByte(',')
			}
			member := key
			if isObject {
				tok, err := dec.Token()
				if err != nil {
					return fmt.Errorf("read JSON: %w", err)
				}
				name, _ := tok.(string)
				if err := writeString(dst, name); err != nil {
					return err
				}
				dst.WriteByte(':')
				member = name
			}
			var elem json.RawMessage
			if err := dec.Decode(&elem); err != nil {
				return fmt.Errorf("read JSON: %w", err)
			}
			if err := redactValue(dst, elem, member, mask); err != nil {
				return err
			}
		}
		if isObject {
			dst.WriteByte('}')
		} else {
			dst.WriteByte(']')
		}
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("read JSON string: %w", err)
		}
		if m := mask(key, s); m != s {
			return writeString(dst, m)
		}
		dst.Write(v)
		return nil
	default:
		dst.Write(v)
		return nil
	}
}

func writeString(dst *bytes.Buffer, s string) error {
	enc := json.NewEncoder(dst)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write JSON string: %w", err)
	}
	dst.Truncate(dst.Len() - 1) // Encode ends with a newline
	return nil
}
