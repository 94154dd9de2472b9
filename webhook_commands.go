package hookstream

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/filter"
)

// WebhookCreate is the request that creates a webhook (Socotra CreateWebhookRequest). Optional fields are
// pointers so that "absent" and "false" differ.
type WebhookCreate struct {
	Name            string                 `json:"name"`
	Enabled         *bool                  `json:"enabled"`
	Endpoint        *EndpointCreate        `json:"endpoint"`
	FailureHandling *FailureHandlingCreate `json:"failureHandling"`
	EventTypes      []string               `json:"eventTypes"`
	// Filter is the payload filter; absent or null for none.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Ordering is "none" (the default) or "fifo"; null is "none".
	Ordering *string `json:"ordering,omitempty"`
	// UseAutomationPlugin is accepted for compatibility with Socotra clients and has no effect.
	UseAutomationPlugin *bool `json:"useAutomationPlugin,omitempty"`
}

// EndpointCreate describes an endpoint in a create request.
type EndpointCreate struct {
	URL         string              `json:"url"`
	HMACEnabled *bool               `json:"hmacEnabled"`
	Secret      string              `json:"secret"`
	SecureSSL   *bool               `json:"secureSsl"`
	Tag         string              `json:"tag"`
	Headers     map[string][]string `json:"headers"`
	// RateLimit bounds deliveries to so many per second; absent or null for no bound.
	RateLimit *int `json:"rateLimit"`
}

// FailureHandlingCreate describes failure handling in a create request. Absent triggers mean the default ones;
// an empty list means no failure ever counts.
type FailureHandlingCreate struct {
	AlertEndpoint *EndpointCreate `json:"alertEndpoint"`
	Divert        bool            `json:"divert"`
	RetryStrategy *RetryStrategy  `json:"retryStrategy"`
	Suspend       bool            `json:"suspend"`
	Triggers      *[]string       `json:"triggers"`
}

// WebhookUpdate is a PATCH (Socotra UpdateWebhookRequest): absent fields stay unchanged; removals apply
// first, then additions, so an item both removed and added ends up present.
type WebhookUpdate struct {
	Name                  *string                `json:"name,omitempty"`
	Enabled               *bool                  `json:"enabled,omitempty"`
	Endpoint              *EndpointUpdate        `json:"endpoint,omitempty"`
	FailureHandling       *FailureHandlingUpdate `json:"failureHandling,omitempty"`
	RemoveFailureHandling bool                   `json:"removeFailureHandling,omitempty"`
	AddEventTypes         []string               `json:"addEventTypes,omitempty"`
	RemoveEventTypes      []string               `json:"removeEventTypes,omitempty"`
	// Filter replaces the payload filter; JSON null removes it.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Ordering changes the ordering; null sets it back to "none".
	Ordering Clearable[string] `json:"ordering,omitzero"`
}

// EndpointUpdate changes an endpoint.
type EndpointUpdate struct {
	URL           *string             `json:"url,omitempty"`
	AddHeaders    map[string][]string `json:"addHeaders,omitempty"`
	RemoveHeaders []string            `json:"removeHeaders,omitempty"`
	HMACEnabled   *bool               `json:"hmacEnabled,omitempty"`
	Secret        *string             `json:"secret,omitempty"`
	SecureSSL     *bool               `json:"secureSsl,omitempty"`
	Tag           *string             `json:"tag,omitempty"`
	// RateLimit changes the rate limit; null removes it.
	RateLimit Clearable[int] `json:"rateLimit,omitzero"`
}

// FailureHandlingUpdate changes failure handling.
type FailureHandlingUpdate struct {
	AlertEndpoint       *EndpointUpdate      `json:"alertEndpoint,omitempty"`
	Divert              *bool                `json:"divert,omitempty"`
	RemoveAlertEndpoint bool                 `json:"removeAlertEndpoint,omitempty"`
	RemoveRetryStrategy bool                 `json:"removeRetryStrategy,omitempty"`
	RetryStrategy       *RetryStrategyUpdate `json:"retryStrategy,omitempty"`
	Suspend             *bool                `json:"suspend,omitempty"`
	AddTriggers         []string             `json:"addTriggers,omitempty"`
	RemoveTriggers      []string             `json:"removeTriggers,omitempty"`
}

// RetryStrategyUpdate changes a retry strategy; a new strategy needs attempts, interval and type.
type RetryStrategyUpdate struct {
	Attempts *int    `json:"attempts,omitempty"`
	Interval *int    `json:"interval,omitempty"`
	Type     *string `json:"type,omitempty"`
	// Jitter changes the jitter; null sets it back to none.
	Jitter Clearable[float64] `json:"jitter,omitzero"`
}

// Clearable is a field of a change request whose JSON null clears it, where an absent field leaves it as it
// is: Set says the field was given, Null that it was given as null.
type Clearable[T any] struct {
	Value     T
	Set, Null bool
}

// IsZero reports an absent field, which encodes to nothing.
func (c Clearable[T]) IsZero() bool { return !c.Set }

// MarshalJSON encodes the value, or null.
func (c Clearable[T]) MarshalJSON() ([]byte, error) {
	if c.Null {
		return []byte("null"), nil
	}
	return json.Marshal(c.Value)
}

// UnmarshalJSON records that the field was given, and whether as null.
func (c *Clearable[T]) UnmarshalJSON(data []byte) error {
	c.Set, c.Null = true, isNull(data)
	if c.Null {
		var zero T
		c.Value = zero
		return nil
	}
	return json.Unmarshal(data, &c.Value)
}

func isNull(data []byte) bool { return bytes.Equal(bytes.TrimSpace(data), []byte("null")) }

// Limits on webhook fields, so that one webhook cannot grow without bound.
const (
	MaxNameLength       = 255
	MaxURLLength        = 2048
	MaxEventTypes       = 1000
	MaxHeaders          = 50
	MaxHeaderValueBytes = 4096
	MinRetryAttempts    = 1
	MaxRetryAttempts    = 10
	MinRetryInterval    = 1
	MaxRetryInterval    = 86400
	MaxRetryJitter      = 0.5
	MinRateLimit        = 1
	MaxRateLimit        = 10000
)

// Policy holds the settings that commands are validated against.
type Policy struct {
	// AllowPrivateDestinations lets endpoints name loopback, private and link-local addresses.
	AllowPrivateDestinations bool
}

// CreateWebhook validates req and returns the webhook.created event for a new webhook, defaults applied and
// secrets generated where none were given.
func (p Policy) CreateWebhook(tenant, locator, actor string, now time.Time, req *WebhookCreate) (*WebhookEvent, error) {
	if err := CheckTenant("tenantLocator", tenant); err != nil {
		return nil, err
	}
	if req.Endpoint == nil {
		return nil, Invalid("endpoint", "is required")
	}
	cfg := WebhookConfig{Name: req.Name, Enabled: true, FailureHandling: DefaultFailureHandling()}
	if err := checkName("name", req.Name); err != nil {
		return nil, err
	}
	if req.Enabled != nil {
		cfg.Enabled = *req.Enabled
	}
	ep, err := p.newEndpoint("endpoint", req.Endpoint)
	if err != nil {
		return nil, err
	}
	if req.Endpoint.RateLimit != nil {
		if err := checkRateLimit("endpoint.rateLimit", *req.Endpoint.RateLimit); err != nil {
			return nil, err
		}
		ep.RateLimit = *req.Endpoint.RateLimit
	}
	cfg.Endpoint = ep
	if req.Ordering != nil {
		if err := checkOrdering("ordering", *req.Ordering); err != nil {
			return nil, err
		}
		cfg.Ordering = normalOrdering(*req.Ordering)
	}
	if fh := req.FailureHandling; fh != nil {
		if fh.Triggers != nil {
			if cfg.FailureHandling.Triggers, err = checkTriggers("failureHandling.triggers", *fh.Triggers); err != nil {
				return nil, err
			}
		}
		cfg.FailureHandling.Divert, cfg.FailureHandling.Suspend = fh.Divert, fh.Suspend
		if fh.RetryStrategy != nil {
			if err := checkRetryStrategy("failureHandling.retryStrategy", fh.RetryStrategy); err != nil {
				return nil, err
			}
			rs := *fh.RetryStrategy
			cfg.FailureHandling.RetryStrategy = &rs
		}
		if fh.AlertEndpoint != nil {
			if fh.AlertEndpoint.RateLimit != nil {
				return nil, Invalid("failureHandling.alertEndpoint.rateLimit", "is not supported on an alert endpoint")
			}
			alert, err := p.newEndpoint("failureHandling.alertEndpoint", fh.AlertEndpoint)
			if err != nil {
				return nil, err
			}
			cfg.FailureHandling.AlertEndpoint = &alert
		}
	}
	if cfg.EventTypes, err = checkEventTypes("eventTypes", req.EventTypes); err != nil {
		return nil, err
	}
	if cfg.EventTypes == nil {
		cfg.EventTypes = []string{}
	}
	if len(req.Filter) > 0 && !isNull(req.Filter) {
		if err := CheckFilter("filter", req.Filter); err != nil {
			return nil, err
		}
		cfg.Filter = slices.Clone(req.Filter)
	}
	return &WebhookEvent{Type: WebhookCreated, Tenant: tenant, Webhook: locator, Actor: actor, Time: now, Create: &cfg}, nil
}

// UpdateWebhook validates req against the webhook's current state and returns the webhook.updated event, or
// nil when the request changes nothing.
// Secrets of a newly added alert endpoint are generated here, so that the event alone determines the state.
func (p Policy) UpdateWebhook(w *Webhook, actor string, now time.Time, req *WebhookUpdate) (*WebhookEvent, error) {
	if w.Deleted {
		return nil, NotFound("webhook %s not found", w.Locator)
	}
	u := *req
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return nil, err
		}
	}
	if u.Endpoint != nil {
		if err := p.checkEndpointUpdate("endpoint", u.Endpoint); err != nil {
			return nil, err
		}
		if rl := u.Endpoint.RateLimit; rl.Set && !rl.Null {
			if err := checkRateLimit("endpoint.rateLimit", rl.Value); err != nil {
				return nil, err
			}
		}
	}
	if o := u.Ordering; o.Set && !o.Null {
		if err := checkOrdering("ordering", o.Value); err != nil {
			return nil, err
		}
	}
	if err := checkEventTypeList("removeEventTypes", u.RemoveEventTypes); err != nil {
		return nil, err
	}
	if err := checkEventTypeList("addEventTypes", u.AddEventTypes); err != nil {
		return nil, err
	}
	if len(u.Filter) > 0 && !isNull(u.Filter) {
		if err := CheckFilter("filter", u.Filter); err != nil {
			return nil, err
		}
	}
	if fh := u.FailureHandling; fh != nil {
		fhu := *fh
		u.FailureHandling = &fhu
		if err := p.checkFailureHandlingUpdate(w, &u); err != nil {
			return nil, err
		}
	}
	next := applyUpdate(w.WebhookConfig, &u, now)
	if reflect.DeepEqual(next, w.WebhookConfig) {
		return nil, nil // nothing changes: no event, no history entry
	}
	if len(next.EventTypes) > MaxEventTypes {
		return nil, Invalid("addEventTypes", "a webhook may list at most %d event types", MaxEventTypes)
	}
	if len(next.Endpoint.Headers) > MaxHeaders {
		return nil, Invalid("endpoint.addHeaders", "an endpoint may have at most %d headers", MaxHeaders)
	}
	if a := next.FailureHandling.AlertEndpoint; a != nil && len(a.Headers) > MaxHeaders {
		return nil, Invalid("failureHandling.alertEndpoint.addHeaders", "an endpoint may have at most %d headers", MaxHeaders)
	}
	return &WebhookEvent{Type: WebhookUpdated, Tenant: w.Tenant, Webhook: w.Locator, Actor: actor, Time: now, Update: &u}, nil
}

// RotateSecret returns the webhook.secret_rotated event that gives the webhook a new generated secret; the old
// one keeps signing for SecretGrace.
func (p Policy) RotateSecret(w *Webhook, actor string, now time.Time) (*WebhookEvent, error) {
	if w.Deleted {
		return nil, NotFound("webhook %s not found", w.Locator)
	}
	return &WebhookEvent{Type: WebhookSecretRotated, Tenant: w.Tenant, Webhook: w.Locator, Actor: actor, Time: now, Secret: NewSecret()}, nil
}

// Unsuspend returns the webhook.unsuspended event, or nil when the webhook is not suspended (nothing to do).
func Unsuspend(w *Webhook, actor string, now time.Time) (*WebhookEvent, error) {
	if w.Deleted {
		return nil, NotFound("webhook %s not found", w.Locator)
	}
	if !w.Suspended {
		return nil, nil
	}
	return &WebhookEvent{Type: WebhookUnsuspended, Tenant: w.Tenant, Webhook: w.Locator, Actor: actor, Time: now}, nil
}

// Suspend returns the webhook.suspended event the engine appends after a final failure, or nil when the
// webhook is already suspended or gone.
func Suspend(w *Webhook, reason string, now time.Time) *WebhookEvent {
	if w.Deleted || w.Suspended {
		return nil
	}
	return &WebhookEvent{Type: WebhookSuspended, Tenant: w.Tenant, Webhook: w.Locator, Actor: ActorSystem, Time: now, Reason: reason}
}

// Release returns the webhook.released event that ends holding once the held events are all delivered, or
// nil when the webhook is not holding (or is suspended again, which keeps it holding).
func Release(w *Webhook, now time.Time) *WebhookEvent {
	if w.Deleted || !w.Holding || w.Suspended {
		return nil
	}
	return &WebhookEvent{Type: WebhookReleased, Tenant: w.Tenant, Webhook: w.Locator, Actor: ActorSystem, Time: now}
}

// DeleteWebhook returns the webhook.deleted event.
func DeleteWebhook(w *Webhook, actor string, now time.Time) (*WebhookEvent, error) {
	if w.Deleted {
		return nil, NotFound("webhook %s not found", w.Locator)
	}
	return &WebhookEvent{Type: WebhookDeleted, Tenant: w.Tenant, Webhook: w.Locator, Actor: actor, Time: now}, nil
}

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// CheckSecret returns an Invalid error naming field unless s is "whsec_" and the base64 of 24..64 bytes.
func CheckSecret(field, s string) error {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return Invalid(field, "must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(raw)
	}
	if err != nil {
		return Invalid(field, "must be whsec_ followed by base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return Invalid(field, "must encode 24 to 64 bytes, got %d", len(key))
	}
	return nil
}

func checkName(field, s string) error {
	if len(s) > MaxNameLength {
		return Invalid(field, "must be at most %d characters", MaxNameLength)
	}
	return nil
}

func (p Policy) newEndpoint(field string, req *EndpointCreate) (Endpoint, error) {
	ep := Endpoint{URL: req.URL, HMACEnabled: true, SecureSSL: true, Tag: req.Tag, Secret: req.Secret}
	if err := p.CheckURL(field+".url", req.URL); err != nil {
		return Endpoint{}, err
	}
	if req.HMACEnabled != nil {
		ep.HMACEnabled = *req.HMACEnabled
	}
	if req.SecureSSL != nil {
		ep.SecureSSL = *req.SecureSSL
	}
	if err := checkName(field+".tag", req.Tag); err != nil {
		return Endpoint{}, err
	}
	if ep.Secret == "" {
		ep.Secret = NewSecret()
	} else if err := CheckSecret(field+".secret", ep.Secret); err != nil {
		return Endpoint{}, err
	}
	if len(req.Headers) > MaxHeaders {
		return Endpoint{}, Invalid(field+".headers", "at most %d headers", MaxHeaders)
	}
	if len(req.Headers) > 0 {
		if err := checkHeaders(field+".headers", req.Headers); err != nil {
			return Endpoint{}, err
		}
		ep.Headers = addHeaders(nil, req.Headers)
	}
	return ep, nil
}

func (p Policy) checkEndpointUpdate(field string, u *EndpointUpdate) error {
	if u.URL != nil {
		if err := p.CheckURL(field+".url", *u.URL); err != nil {
			return err
		}
	}
	if u.Secret != nil {
		if err := CheckSecret(field+".secret", *u.Secret); err != nil {
			return err
		}
	}
	if u.Tag != nil {
		if err := checkName(field+".tag", *u.Tag); err != nil {
			return err
		}
	}
	if err := checkHeaders(field+".addHeaders", u.AddHeaders); err != nil {
		return err
	}
	for i, name := range u.RemoveHeaders {
		if !validHeaderName(name) {
			return Invalid(fmt.Sprintf("%s.removeHeaders[%d]", field, i), "is not a valid header name")
		}
	}
	return nil
}

// checkFailureHandlingUpdate validates u.FailureHandling against w and fills in what the event must carry:
// the secret of an alert endpoint that this update creates.
func (p Policy) checkFailureHandlingUpdate(w *Webhook, u *WebhookUpdate) error {
	fh := u.FailureHandling
	base := w.FailureHandling
	if u.RemoveFailureHandling {
		base = DefaultFailureHandling()
	}
	if _, err := checkTriggers("failureHandling.removeTriggers", fh.RemoveTriggers); err != nil {
		return err
	}
	if _, err := checkTriggers("failureHandling.addTriggers", fh.AddTriggers); err != nil {
		return err
	}
	if rs := fh.RetryStrategy; rs != nil {
		var merged RetryStrategy
		if base.RetryStrategy != nil && !fh.RemoveRetryStrategy {
			merged = *base.RetryStrategy
		}
		if rs.Attempts != nil {
			merged.Attempts = *rs.Attempts
		}
		if rs.Interval != nil {
			merged.Interval = *rs.Interval
		}
		if rs.Type != nil {
			merged.Type = *rs.Type
		}
		if rs.Jitter.Set {
			merged.Jitter = rs.Jitter.Value
		}
		if err := checkRetryStrategy("failureHandling.retryStrategy", &merged); err != nil {
			return err
		}
	}
	if a := fh.AlertEndpoint; a != nil {
		field := "failureHandling.alertEndpoint"
		if err := p.checkEndpointUpdate(field, a); err != nil {
			return err
		}
		if a.RateLimit.Set {
			return Invalid(field+".rateLimit", "is not supported on an alert endpoint")
		}
		if base.AlertEndpoint == nil || fh.RemoveAlertEndpoint {
			if a.URL == nil {
				return Invalid(field+".url", "is required for a new alert endpoint")
			}
			if a.Secret == nil {
				au := *a
				secret := NewSecret()
				au.Secret = &secret
				fh.AlertEndpoint = &au
			}
		}
	}
	return nil
}

// CheckURL returns an Invalid error naming field unless s is an absolute http or https URL with a host and,
// unless private destinations are allowed, a host that is not a literal private address.
func (p Policy) CheckURL(field, s string) error {
	if s == "" {
		return Invalid(field, "is required")
	}
	if len(s) > MaxURLLength {
		return Invalid(field, "must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Invalid(field, "is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid(field, "must use http or https")
	}
	if u.Hostname() == "" {
		return Invalid(field, "must have a host")
	}
	if u.User != nil {
		return Invalid(field, "must not carry credentials; use endpoint headers")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Invalid(field, "has an invalid port")
		}
	}
	if !p.AllowPrivateDestinations && isPrivateHost(u.Hostname()) {
		return Invalid(field, "names a private, loopback or link-local address; start the server with --allow-private-destinations to allow it")
	}
	return nil
}

func isPrivateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(h)
	return err == nil && IsPrivateAddress(addr)
}

// IsPrivateAddress reports whether ip must not be reached from a webhook delivery
// because it may belong to our own network rather than the endpoint owner's:
// loopback, private, CGNAT, link-local, unique-local, site-local, multicast,
// unspecified, "this network", reserved and broadcast addresses, including
// their IPv4-mapped and NAT64 forms. An invalid address counts as private so
// that callers fail closed.
func IsPrivateAddress(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	if ip.Is4() {
		a := ip.As4()
		switch {
		case a[0] == 0:
			// "This network" (RFC 1122); Linux routes 0.x.y.z to the
			// local host.
			return true
		case a[0] == 100 && a[1]&0xc0 == 64:
			// 100.64.0.0/10, carrier-grade NAT (RFC 6598): private in
			// practice, often provider or cloud-internal infrastructure.
			return true
		case a[0] >= 240:
			// 240.0.0.0/4, reserved (RFC 1112), including the limited
			// broadcast address 255.255.255.255.
			return true
		}
		return false
	}
	a := ip.As16()
	switch {
	case a[0] == 0xfe && a[1]&0xc0 == 0xc0:
		// fec0::/10, deprecated site-local (RFC 3879), still treated as
		// internal by some stacks.
		return true
	case [12]byte(a[:12]) == [12]byte{0, 0x64, 0xff, 0x9b}:
		// 64:ff9b::/96, NAT64 well-known prefix (RFC 6052): a translator
		// turns 64:ff9b::a.b.c.d into a connection to a.b.c.d, so the
		// embedded IPv4 address is the real destination.
		return IsPrivateAddress(netip.AddrFrom4([4]byte(a[12:])))
	}
	return false
}

var reservedHeaders = []string{"content-type", "content-length", "host", "user-agent"}

func validHeaderName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func checkHeaders(field string, headers map[string][]string) error {
	if len(headers) > MaxHeaders {
		return Invalid(field, "at most %d headers", MaxHeaders)
	}
	seen := make(map[string]string, len(headers))
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		values := headers[name]
		f := field + "." + name
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if other, dup := seen[canonical]; dup {
			return Invalid(truncate(f, 300), "names the same header as %q (header names ignore case)", truncate(other, 64))
		}
		seen[canonical] = name
		if !validHeaderName(name) {
			return Invalid(truncate(f, 300), "is not a valid header name")
		}
		lower := strings.ToLower(name)
		if slices.Contains(reservedHeaders, lower) || strings.HasPrefix(lower, "webhook-") {
			return Invalid(f, "is reserved: content-type, content-length, host, user-agent and webhook-* are set by hookstream")
		}
		size := 0
		for _, v := range values {
			size += len(v)
			if strings.ContainsAny(v, "\r\n\x00") {
				return Invalid(f, "values must not contain CR, LF or NUL")
			}
		}
		if size > MaxHeaderValueBytes {
			return Invalid(f, "values must total at most %d bytes", MaxHeaderValueBytes)
		}
	}
	return nil
}

func checkTriggers(field string, triggers []string) ([]string, error) {
	out := make([]string, 0, len(triggers))
	for i, t := range triggers {
		if !ValidTrigger(t) {
			return nil, Invalid(fmt.Sprintf("%s[%d]", field, i), "must be 3xx, 4xx, 5xx, timeout or a status code from 300 to 599, got %q", truncate(t, 32))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// ValidTrigger reports whether t names a failure: "3xx", "4xx", "5xx", "timeout" or a code from 300 to 599.
func ValidTrigger(t string) bool {
	switch t {
	case "3xx", "4xx", "5xx", "timeout":
		return true
	}
	if len(t) != 3 {
		return false
	}
	n, err := strconv.Atoi(t)
	return err == nil && n >= 300 && n <= 599 && t[0] != '+' && t[0] != '-'
}

func checkRetryStrategy(field string, rs *RetryStrategy) error {
	if rs.Attempts < MinRetryAttempts || rs.Attempts > MaxRetryAttempts {
		return Invalid(field+".attempts", "must be from %d to %d, got %d", MinRetryAttempts, MaxRetryAttempts, rs.Attempts)
	}
	if rs.Interval < MinRetryInterval || rs.Interval > MaxRetryInterval {
		return Invalid(field+".interval", "must be from %d to %d seconds, got %d", MinRetryInterval, MaxRetryInterval, rs.Interval)
	}
	if rs.Type != RetryLinear && rs.Type != RetryExponential {
		return Invalid(field+".type", "must be linear or exponential, got %q", truncate(rs.Type, 32))
	}
	if !(rs.Jitter >= 0 && rs.Jitter <= MaxRetryJitter) {
		return Invalid(field+".jitter", "must be from 0 to %g, got %g", MaxRetryJitter, rs.Jitter)
	}
	return nil
}

// CheckFilter returns an Invalid error naming the part of field at fault unless raw is a valid payload
// filter.
func CheckFilter(field string, raw json.RawMessage) error {
	_, err := filter.Parse(raw)
	var fe *filter.Error
	if errors.As(err, &fe) {
		if fe.Field != "" {
			field += "." + fe.Field
		}
		return Invalid(truncate(field, 300), "%s", fe.Message)
	}
	return err
}

func checkRateLimit(field string, n int) error {
	if n < MinRateLimit || n > MaxRateLimit {
		return Invalid(field, "must be from %d to %d deliveries per second, got %d", MinRateLimit, MaxRateLimit, n)
	}
	return nil
}

func checkOrdering(field, s string) error {
	if s != OrderingNone && s != OrderingFIFO {
		return Invalid(field, "must be none or fifo, got %q", truncate(s, 32))
	}
	return nil
}

// normalOrdering stores "none" as nothing, so a webhook that never had an ordering and one set back to none
// are the same state.
func normalOrdering(s string) string {
	if s == OrderingNone {
		return ""
	}
	return s
}

func checkEventTypeList(field string, types []string) error {
	if len(types) > MaxEventTypes {
		return Invalid(field, "at most %d event types", MaxEventTypes)
	}
	for i, t := range types {
		if err := CheckEventType(fmt.Sprintf("%s[%d]", field, i), t); err != nil {
			return err
		}
	}
	return nil
}

func checkEventTypes(field string, types []string) ([]string, error) {
	if err := checkEventTypeList(field, types); err != nil {
		return nil, err
	}
	return addUnique(nil, types), nil
}

func addUnique(list, items []string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

func removeAll(list, items []string) []string {
	return slices.DeleteFunc(list, func(s string) bool { return slices.Contains(items, s) })
}

func addHeaders(h map[string][]string, add map[string][]string) map[string][]string {
	if len(add) == 0 {
		return h
	}
	if h == nil {
		h = make(map[string][]string, len(add))
	}
	for name, values := range add {
		h[textproto.CanonicalMIMEHeaderKey(name)] = slices.Clone(values)
	}
	return h
}

func removeHeaders(h map[string][]string, names []string) map[string][]string {
	for _, name := range names {
		delete(h, textproto.CanonicalMIMEHeaderKey(name))
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

// applyUpdate returns cfg with u applied: removals first, then additions. It never fails: UpdateWebhook has
// validated u against cfg before the event was appended.
func applyUpdate(cfg WebhookConfig, u *WebhookUpdate, at time.Time) WebhookConfig {
	cfg = cfg.clone()
	if u.RemoveFailureHandling {
		cfg.FailureHandling = DefaultFailureHandling()
	}
	if u.Name != nil {
		cfg.Name = *u.Name
	}
	if u.Enabled != nil {
		cfg.Enabled = *u.Enabled
	}
	if u.Endpoint != nil {
		applyEndpointUpdate(&cfg.Endpoint, u.Endpoint, at)
	}
	if fu := u.FailureHandling; fu != nil {
		fh := &cfg.FailureHandling
		if fu.RemoveAlertEndpoint {
			fh.AlertEndpoint = nil
		}
		if fu.RemoveRetryStrategy {
			fh.RetryStrategy = nil
		}
		fh.Triggers = removeAll(fh.Triggers, fu.RemoveTriggers)
		if fu.AlertEndpoint != nil {
			if fh.AlertEndpoint == nil {
				fh.AlertEndpoint = &Endpoint{HMACEnabled: true, SecureSSL: true}
				if fu.AlertEndpoint.Secret != nil {
					fh.AlertEndpoint.Secret = *fu.AlertEndpoint.Secret
				}
			}
			applyEndpointUpdate(fh.AlertEndpoint, fu.AlertEndpoint, at)
		}
		if rs := fu.RetryStrategy; rs != nil {
			if fh.RetryStrategy == nil {
				fh.RetryStrategy = &RetryStrategy{}
			}
			if rs.Attempts != nil {
				fh.RetryStrategy.Attempts = *rs.Attempts
			}
			if rs.Interval != nil {
				fh.RetryStrategy.Interval = *rs.Interval
			}
			if rs.Type != nil {
				fh.RetryStrategy.Type = *rs.Type
			}
			if rs.Jitter.Set {
				fh.RetryStrategy.Jitter = rs.Jitter.Value
			}
		}
		if fu.Divert != nil {
			fh.Divert = *fu.Divert
		}
		if fu.Suspend != nil {
			fh.Suspend = *fu.Suspend
		}
		fh.Triggers = addUnique(fh.Triggers, fu.AddTriggers)
	}
	cfg.EventTypes = addUnique(removeAll(cfg.EventTypes, u.RemoveEventTypes), u.AddEventTypes)
	switch {
	case isNull(u.Filter):
		cfg.Filter = nil
	case len(u.Filter) > 0:
		cfg.Filter = slices.Clone(u.Filter)
	}
	if u.Ordering.Set {
		cfg.Ordering = normalOrdering(u.Ordering.Value) // null leaves Value empty: none
	}
	return cfg
}

func applyEndpointUpdate(e *Endpoint, u *EndpointUpdate, at time.Time) {
	if u.URL != nil {
		e.URL = *u.URL
	}
	if u.HMACEnabled != nil {
		e.HMACEnabled = *u.HMACEnabled
	}
	if u.Secret != nil {
		rotateSecret(e, *u.Secret, at)
	}
	if u.SecureSSL != nil {
		e.SecureSSL = *u.SecureSSL
	}
	if u.Tag != nil {
		e.Tag = *u.Tag
	}
	if u.RateLimit.Set {
		e.RateLimit = u.RateLimit.Value // null leaves Value zero: no limit
	}
	e.Headers = addHeaders(removeHeaders(e.Headers, u.RemoveHeaders), u.AddHeaders)
}
