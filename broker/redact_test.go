package broker

import "testing"

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":               "nats://127.0.0.1:4222",
		"nats://u:p@a:4222,nats://tok@b:4222": "nats://xxxxx@a:4222,nats://xxxxx@b:4222",
		"127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"u:p@127.0.0.1:4222":                  "nats://xxxxx@127.0.0.1:4222",
		"nats://u:p@[::1":                     "(unparsable URL)",
		"tls://user:pass@host:4443/?x=1":      "tls://xxxxx@host:4443/?x=1",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
