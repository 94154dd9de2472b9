package httpapi

import (
	"testing"

	"github.com/hookstream/hookstream"
)

func TestExplore(t *testing.T) {
	for _, s := range []string{`{"eventTypes": [1]}`, `{"endpoint": {"bogus": 1}}`, `{"endpoint": {"headers": {"a": "b"}}}`, `{"endpoint": {"headers": {"a": [1]}}}`, `{"":1}`, `{"Name":"x","NAME":"y"}`, `null`, `{"failureHandling":{"triggers":null}}`, `{"name":"\ud800"}`, `{"endpoint": {"url": 5}}`, `{"failureHandling": {"retryStrategy": {"attempts": 1e400}}}`, `{"failureHandling": {"retryStrategy": {"attempts": 99999999999999999999}}}`} {
		var req hookstream.WebhookCreate
		err := decodeJSON([]byte(s), &req)
		t.Logf("%s -> %#v / %+v", s, err, req)
	}
	for _, s := range []string{`{"expiresAt": "tomorrow"}`, `{"expiresAt": 5}`, `{"expiresAt": null}`, `{"tenants": {}}`, `{"permissions": [null]}`} {
		var req hookstream.TokenCreate
		err := decodeJSON([]byte(s), &req)
		t.Logf("%s -> %#v", s, err)
	}
}
