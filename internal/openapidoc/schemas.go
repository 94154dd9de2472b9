package openapidoc

import (
	"fmt"
	"slices"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/httpapi"
)

func ref(name string) obj { return o("$ref", "#/components/schemas/"+name) }

// nullable lets a schema's value be null as well (JSON Schema 2020-12: a type array, or anyOf for a $ref:
// anyOf, not oneOf, since the schema referred to may allow null itself).
func nullable(s obj) obj {
	for _, m := range s {
		if m.key == "anyOf" {
			return s // already nullable(ref)
		}
	}
	for _, m := range s {
		if m.key == "$ref" {
			return o("anyOf", []any{s, o("type", "null")})
		}
	}
	for i, m := range s {
		if m.key == "type" {
			if t, ok := m.value.(string); ok {
				out := append(obj(nil), s...)
				out[i].value = []string{t, "null"}
				return out
			}
		}
	}
	return s
}

func str(kv ...any) obj     { return o("type", "string").with(kv...) }
func integer(kv ...any) obj { return o("type", "integer").with(kv...) }
func number(kv ...any) obj  { return o("type", "number").with(kv...) }
func boolean(kv ...any) obj { return o("type", "boolean").with(kv...) }
func array(items any, kv ...any) obj {
	return o("type", "array", "items", items).with(kv...)
}
func dateTime(kv ...any) obj { return str("format", "date-time").with(kv...) }

// object is a closed object: an unknown member fails validation. props alternates names and schemas.
func object(required []string, props ...any) obj {
	s := o("type", "object")
	if len(required) > 0 {
		s = s.with("required", required)
	}
	return s.with("properties", o(props...), "additionalProperties", false)
}

// request is the object schema of a request body. The engine decodes null as an absent field, so every optional
// member allows null as well (where null means something else, the member's own schema says so).
func request(required []string, props ...any) obj {
	props = slices.Clone(props)
	for i := 0; i < len(props); i += 2 {
		name := props[i].(string)
		if !slices.Contains(required, name) {
			props[i+1] = nullable(props[i+1].(obj))
		}
	}
	return object(required, props...)
}

// lenient is request for a /v1 body: unknown members are ignored, as Lithic does.
func lenient(required []string, props ...any) obj {
	s := request(required, props...)
	for i := range s {
		if s[i].key == "additionalProperties" {
			s[i].value = true
		}
	}
	return s
}

func describe(s obj, text string) obj { return s.with("description", text) }

// Patterns of the identifiers the engine checks.
const (
	tenantPattern    = `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	locatorPattern   = `^[0-7][0-9A-HJKMNP-TV-Z]{25}$`
	eventTypePattern = `^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`
	headerPattern    = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$"
	reservedHeaders  = `(?i)^(content-type|content-length|host|user-agent|webhook-.*)$`
	triggerPattern   = `^(3xx|4xx|5xx|timeout|[3-5][0-9]{2})$`
	secretPattern    = `^whsec_[A-Za-z0-9+/]+={0,2}$`
)

func schemas() obj {
	endpointProps := []any{
		"url", str(),
		"hmacEnabled", boolean(),
		"secret", str("description", "In full in the answer to a create, and with extended=true for a token with webhooks.write; masked (whsec_… and the last four characters) otherwise."),
		"secureSsl", boolean(),
		"tag", str(),
		"headers", o("type", "object", "additionalProperties", array(str())),
	}
	retryStrategyProps := []any{
		"attempts", integer("minimum", hookstream.MinRetryAttempts, "maximum", hookstream.MaxRetryAttempts,
			"description", "Retries after the first try."),
		"interval", integer("minimum", hookstream.MinRetryInterval, "maximum", hookstream.MaxRetryInterval,
			"description", "Seconds: the delay before retry k is interval × k (linear) or interval × 2^(k-1) (exponential), from the end of the previous try."),
		"type", ref("RetryType"),
		"jitter", number("minimum", 0, "maximum", hookstream.MaxRetryJitter, "default", 0,
			"description", "Each retry delay is multiplied by a random factor in [1 - jitter, 1 + jitter]."),
	}
	headerValues := array(str("pattern", `^[^\r\n\x00]*$`),
		"description", fmt.Sprintf("Values of one header, %d bytes at most in all, without CR, LF or NUL.", hookstream.MaxHeaderValueBytes))
	endpointCreateProps := []any{
		"url", ref("URL"),
		"hmacEnabled", boolean("default", true, "description", "Sign deliveries (Standard Webhooks webhook-signature)."),
		"secret", ref("Secret"),
		"secureSsl", boolean("default", true, "description", "Verify the endpoint's TLS certificate."),
		"tag", str("maxLength", hookstream.MaxNameLength),
		"headers", ref("Headers"),
		"rateLimit", ref("RateLimit"),
	}
	return o(
		"TenantLocator", str("pattern", tenantPattern, "minLength", 36, "maxLength", 36,
			"description", "A tenant: a UUID in its canonical lowercase form (an uppercase UUID is refused, not normalised).",
			"examples", []string{"6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"}),
		"Locator", str("pattern", locatorPattern, "minLength", 26, "maxLength", 26,
			"description", "A ULID in uppercase Crockford base32.", "examples", []string{"01JDQ3V6E6Y9X2N7R4K8T5M0AB"}),
		"EventType", str("pattern", eventTypePattern, "minLength", 1, "maxLength", hookstream.MaxEventTypeLength,
			"description", "Dot-separated segments of [A-Za-z0-9_-].", "examples", []string{"policy.issue", "card.created"}),
		"URL", str("format", "uri", "minLength", 1, "maxLength", hookstream.MaxURLLength,
			"description", "An absolute http or https URL with a host and no credentials. Loopback, private, link-local, "+
				"multicast and unspecified literal addresses are refused unless the server allows private destinations.",
			"examples", []string{"https://example.com/hooks"}),
		"Secret", str("pattern", secretPattern, "minLength", 38, "maxLength", 94,
			"description", "whsec_ and the base64 of 24 to 64 bytes; generated when not given."),
		"HeaderName", str("pattern", headerPattern, "not", o("pattern", reservedHeaders),
			"description", "An HTTP header name; content-type, content-length, host, user-agent and webhook-* are set by hookstream and refused."),
		"Headers", o("type", "object", "maxProperties", hookstream.MaxHeaders,
			"propertyNames", ref("HeaderName"), "additionalProperties", headerValues,
			"description", "Headers added to every delivery; names ignore case, so two spellings of one name are refused."),
		"Trigger", str("pattern", triggerPattern,
			"description", "A failure that counts: a status class (3xx, 4xx, 5xx), a status code from 300 to 599, or timeout (no HTTP response)."),
		"RetryType", str("enum", []string{hookstream.RetryLinear, hookstream.RetryExponential}),
		"Ordering", str("enum", []string{"none", "fifo"}, "default", "none",
			"description", "fifo: the webhook gets its events one at a time in ingestion order; the next starts only after the previous delivery ended."),
		"RateLimit", nullable(integer("minimum", 1, "maximum", 10000,
			"description", "Deliveries per second to this endpoint, across all instances; excess waits. Null: no limit.")),
		"Filter", nullable(o("type", "object",
			"description", "A payload filter: keys are dotted paths into the delivered event (type, requestId, data.amount, ...), "+
				"values a literal (equality) or an operator object ($eq $neq $gt $gte $lt $lte $in $nin $exists $prefix); "+
				"$and and $or take arrays of such objects. At most 32 conditions, nesting depth 4. Null: no filter.",
			"examples", []any{o("type", "card.created", "data.amount", o("$gte", 100))})),
		"Permission", str("enum", hookstream.AllPermissions()),
		"AttemptStatus", str("enum", []string{string(hookstream.AttemptFailed), string(hookstream.AttemptPending),
			string(hookstream.AttemptSending), string(hookstream.AttemptSuccess)},
			"description", "SUCCESS or FAILED once the response (or the timeout) is in; PENDING for a scheduled try not yet sent; SENDING while in flight."),

		"Error", object([]string{"code", "message"},
			"code", str("enum", []string{string(hookstream.CodeInvalid), string(hookstream.CodeNotFound), string(hookstream.CodeConflict),
				string(hookstream.CodeUnauthorized), string(hookstream.CodeForbidden), string(hookstream.CodeTooLarge),
				string(hookstream.CodeUnavailable), string(hookstream.CodeInternal), "method_not_allowed", "rate_limited"}),
			"message", str(),
			"field", str("description", "The input at fault, as a path (endpoint.url, failureHandling.retryStrategy.attempts, eventTypes[2])."),
		).with("examples", []any{o("code", "invalid", "message", "must be from 1 to 10, got 11", "field", "failureHandling.retryStrategy.attempts")}),
		"V1Error", object([]string{"message", "debugging_request_id"},
			"message", str("description", "What went wrong, prefixed with the field at fault when there is one."),
			"debugging_request_id", str("description", "The request id the server logged the error with (also the X-Request-Id header)."),
		).with("examples", []any{o("message", "url: is required", "debugging_request_id", "3f1d0c2a9b8e7d6c5b4a3921")}),

		// The Socotra face.
		"RetryStrategy", object([]string{"attempts", "interval", "type"}, retryStrategyProps...),
		"Endpoint", object([]string{"url", "hmacEnabled", "secret", "secureSsl", "tag", "headers"}, endpointProps...),
		"WebhookEndpoint", describe(object([]string{"url", "hmacEnabled", "secret", "secureSsl", "tag", "headers", "rateLimit"},
			append(slices.Clone(endpointProps), "rateLimit", ref("RateLimit"))...,
		), "A webhook's own endpoint: an alert endpoint's, plus its rate limit."),
		"FailureHandling", object([]string{"alertEndpoint", "divert", "retryStrategy", "suspend", "triggers"},
			"alertEndpoint", nullable(ref("Endpoint")),
			"divert", boolean(),
			"retryStrategy", nullable(ref("RetryStrategy")),
			"suspend", boolean(),
			"triggers", array(str()),
		),
		"Webhook", describe(object([]string{"locator", "name", "enabled", "endpoint", "failureHandling", "suspended", "suspendedAt", "eventTypes", "filter", "ordering"},
			"locator", ref("Locator"),
			"name", str(),
			"enabled", boolean(),
			"endpoint", ref("WebhookEndpoint"),
			"failureHandling", ref("FailureHandling"),
			"suspended", boolean(),
			"suspendedAt", nullable(dateTime()),
			"eventTypes", array(str(), "description", "Empty: every type."),
			"filter", ref("Filter"),
			"ordering", ref("Ordering"),
		), "A webhook (Socotra WebhookResponse)."),
		"WebhookList", object([]string{"listCompleted", "items"},
			"listCompleted", boolean("description", "True when nothing follows this page."),
			"items", array(ref("Webhook")),
		),
		"EndpointCreate", request([]string{"url"}, endpointCreateProps...),
		"RetryStrategyCreate", request([]string{"attempts", "interval", "type"}, retryStrategyProps...),
		"FailureHandlingCreate", describe(request(nil,
			"alertEndpoint", describe(ref("EndpointCreate"), "Where a notice of each final failure is POSTed, signed with its own secret."),
			"divert", boolean("default", false),
			"retryStrategy", ref("RetryStrategyCreate"),
			"suspend", boolean("default", false),
			"triggers", array(ref("Trigger"), "description", "Absent: 4xx, 5xx and timeout. Empty: no failure counts."),
		), "Absent: triggers 4xx, 5xx and timeout, no retries, no divert, no suspend."),
		"WebhookCreate", describe(request([]string{"endpoint"},
			"name", str("maxLength", hookstream.MaxNameLength),
			"enabled", boolean("default", true),
			"endpoint", ref("EndpointCreate"),
			"failureHandling", ref("FailureHandlingCreate"),
			"eventTypes", array(ref("EventType"), "maxItems", hookstream.MaxEventTypes, "description", "Absent or empty: every type."),
			"filter", ref("Filter"),
			"ordering", ref("Ordering"),
			"useAutomationPlugin", boolean("description", "Accepted for compatibility with Socotra clients; no effect."),
		), "Unknown fields are refused (400 naming the field); names are case-sensitive."),
		"EndpointUpdate", request(nil,
			"url", ref("URL"),
			"addHeaders", ref("Headers"),
			"removeHeaders", array(ref("HeaderName")),
			"hmacEnabled", boolean(),
			"secret", describe(ref("Secret"), "A new secret; the previous one keeps signing for 24 hours."),
			"secureSsl", boolean(),
			"tag", str("maxLength", hookstream.MaxNameLength),
			"rateLimit", describe(ref("RateLimit"), "Null removes the limit."),
		),
		"RetryStrategyUpdate", request(nil,
			"attempts", integer("minimum", hookstream.MinRetryAttempts, "maximum", hookstream.MaxRetryAttempts),
			"interval", integer("minimum", hookstream.MinRetryInterval, "maximum", hookstream.MaxRetryInterval),
			"type", ref("RetryType"),
			"jitter", nullable(number("minimum", 0, "maximum", hookstream.MaxRetryJitter, "description", "Null sets it back to 0.")),
		),
		"FailureHandlingUpdate", request(nil,
			"alertEndpoint", describe(ref("EndpointUpdate"), "A new alert endpoint needs a url."),
			"divert", boolean(),
			"removeAlertEndpoint", boolean(),
			"removeRetryStrategy", boolean(),
			"retryStrategy", describe(ref("RetryStrategyUpdate"), "Merged into the current strategy; a new strategy needs attempts, interval and type."),
			"suspend", boolean(),
			"addTriggers", array(ref("Trigger")),
			"removeTriggers", array(ref("Trigger")),
		),
		"WebhookUpdate", describe(request(nil,
			"name", str("maxLength", hookstream.MaxNameLength),
			"enabled", boolean(),
			"endpoint", ref("EndpointUpdate"),
			"failureHandling", ref("FailureHandlingUpdate"),
			"removeFailureHandling", boolean("description", "Restores the default failure handling (applied before failureHandling)."),
			"addEventTypes", array(ref("EventType"), "maxItems", hookstream.MaxEventTypes),
			"removeEventTypes", array(ref("EventType"), "maxItems", hookstream.MaxEventTypes),
			"filter", describe(ref("Filter"), "Replaces the filter; null removes it."),
			"ordering", nullable(ref("Ordering")).with("description", "Null sets it back to none."),
		), "Every field optional: absent leaves it unchanged. Removals apply first, then additions. Unknown fields are refused."),
		"HistoryItem", object([]string{"sequence", "type", "timestamp", "actor", "change"},
			"sequence", integer("minimum", 1),
			"type", str("enum", []string{hookstream.WebhookCreated, hookstream.WebhookUpdated, hookstream.WebhookSecretRotated,
				hookstream.WebhookSuspended, hookstream.WebhookUnsuspended, hookstream.WebhookDeleted, hookstream.WebhookReleased}),
			"timestamp", dateTime(),
			"actor", str("description", "The locator of the token that made the change, admin, or system for the engine's own changes."),
			"change", o("type", "object", "description", "What changed, secrets masked: the webhook for a create, the request for an update, {secret} for a rotation, {reason} for a suspension."),
		),
		"History", object([]string{"items"}, "items", array(ref("HistoryItem"))),
		"DivertedEvent", object([]string{"eventLocator", "requestLocator", "failureMessage", "failureTimestamp", "failureTrigger"},
			"eventLocator", ref("Locator"),
			"requestLocator", describe(ref("Locator"), "The final attempt."),
			"failureMessage", str(),
			"failureTimestamp", dateTime(),
			"failureTrigger", str(),
			"eventExpired", boolean("description", "The event is no longer retained: the record stays readable but cannot be resent."),
		),
		"Empty", object(nil),
		"EventCreate", describe(request([]string{"type", "data"},
			"type", ref("EventType"),
			"data", o("type", "object", "description", "At most 1 MiB."),
			"requestId", str("maxLength", hookstream.MaxRequestIDLength),
		), "Unknown fields are refused."),
		"EventBatch", describe(request([]string{"events"},
			"events", array(o(), "minItems", 1, "maxItems", httpapi.MaxBatchEvents,
				"description", "Bodies of the single route (EventCreate); each is checked on its own, and one that is not valid fails alone."),
		), "Up to 8 MiB in all. Unknown fields are refused."),
		"EventBatchResult", describe(o("anyOf", []any{ref("Event"), object([]string{"error"}, "error", ref("Error"))}),
			"The event as stored, or the error that refused it: the single route's, its field prefixed with the event's place (events[3].type)."),
		"EventBatchResults", object([]string{"results"},
			"results", array(ref("EventBatchResult"), "description", "One per event, in the order given."),
		),
		"Event", describe(object([]string{"locator", "type", "tenantLocator", "timestamp", "data"},
			"locator", ref("Locator"),
			"type", ref("EventType"),
			"tenantLocator", ref("TenantLocator"),
			"timestamp", dateTime(),
			"requestId", str(),
			"data", o("type", "object"),
		), "An event as delivered (EventResponse): the body of every delivery."),
		"EventList", object([]string{"pagingToken", "events"},
			"pagingToken", str("description", "Continues the same query after the last event returned; never expires, so it can be polled."),
			"events", array(ref("Event")),
		),
		"Attempt", object([]string{"locator", "tenant", "webhook", "event", "eventSeq", "try", "url", "status", "statusCode", "latencyMs", "created"},
			"locator", ref("Locator"),
			"tenant", ref("TenantLocator"),
			"webhook", ref("Locator"),
			"event", ref("Locator"),
			"eventSeq", integer("minimum", 0),
			"try", integer("minimum", 0, "description", "0 for the first try, k for the k-th retry."),
			"url", str(),
			"status", ref("AttemptStatus"),
			"statusCode", integer("minimum", 0, "description", "0 when no response came back."),
			"responseBody", str("description", fmt.Sprintf("The first %d bytes of the answer.", hookstream.MaxResponseBodyBytes)),
			"latencyMs", number("minimum", 0),
			"trigger", str(),
			"error", str(),
			"created", dateTime(),
			"due", dateTime("description", "When a PENDING try will be sent."),
			"retryAfter", integer("minimum", 0, "description", "Seconds a 429 or 503 answer asked to wait with Retry-After."),
		),
		"AttemptList", object([]string{"pagingToken", "hasMore", "attempts"},
			"pagingToken", str("description", "Continues the same query to older attempts."),
			"hasMore", boolean(),
			"attempts", array(ref("Attempt"), "description", "Newest first."),
		),
		"OutcomeCounts", object([]string{"success", "failed", "pending", "successRate", "p50Ms", "p99Ms"}, outcomeProps()...),
		"StatsBucket", object([]string{"start", "success", "failed", "pending", "successRate", "p50Ms", "p99Ms"},
			append([]any{"start", dateTime()}, outcomeProps()...)...),
		"WebhookStats", object([]string{"window", "start", "end", "bucketSeconds", "total", "buckets"},
			"window", ref("StatsWindow"),
			"start", dateTime(),
			"end", dateTime(),
			"bucketSeconds", integer("minimum", 1),
			"total", ref("OutcomeCounts"),
			"buckets", array(ref("StatsBucket"), "description", "Oldest first."),
		),
		"StatsWindow", str("enum", []string{"1h", "24h"}, "default", "1h"),
		"WebhookSummary", object([]string{"locator", "name", "enabled", "suspended", "success", "failed", "pending", "successRate", "p50Ms", "p99Ms", "diverted", "lastFailure"},
			append([]any{"locator", ref("Locator"), "name", str(), "enabled", boolean(), "suspended", boolean()},
				append(outcomeProps(), "diverted", integer("minimum", 0), "lastFailure", nullable(ref("Attempt")))...)...),
		"TenantStats", object([]string{"window", "start", "end", "events", "attempts", "webhooks", "suspended", "disabled", "diverted", "perWebhook"},
			"window", ref("StatsWindow"),
			"start", dateTime(),
			"end", dateTime(),
			"events", integer("minimum", 0),
			"attempts", ref("OutcomeCounts"),
			"webhooks", integer("minimum", 0),
			"suspended", integer("minimum", 0),
			"disabled", integer("minimum", 0),
			"diverted", integer("minimum", 0),
			"perWebhook", array(ref("WebhookSummary")),
		),

		// Tokens, the console and the probes.
		"TokenCreate", request([]string{"name", "tenants", "permissions"},
			"name", str("minLength", 1, "maxLength", 255),
			"tenants", array(ref("TenantLocator"), "minItems", 1, "maxItems", 1000),
			"permissions", array(ref("Permission"), "minItems", 1, "maxItems", 64),
			"expiresAt", dateTime("description", "In the future."),
		),
		"Token", object([]string{"locator", "name", "tenants", "permissions", "expiresAt", "createdAt"},
			"locator", ref("Locator"),
			"name", str(),
			"tenants", array(ref("TenantLocator")),
			"permissions", array(ref("Permission")),
			"expiresAt", nullable(dateTime()),
			"createdAt", dateTime(),
			"token", str("description", "The secret: only in the answer to the creation, never again."),
		),
		"TokenList", object([]string{"items"}, "items", array(ref("Token"))),
		"Whoami", object([]string{"locator", "admin", "tenants", "permissions"},
			"locator", str("description", "The token's locator, or admin."),
			"admin", boolean(),
			"tenants", array(ref("TenantLocator")),
			"permissions", array(ref("Permission")),
			"expiresAt", dateTime(),
		),
		"Health", object([]string{"ready", "views", "consumers", "streams"},
			"ready", boolean(),
			"failing", array(str()),
			"views", o("type", "object", "additionalProperties", number(), "description", "Each view's lag behind its stream, in messages."),
			"consumers", o("type", "object", "additionalProperties", o("type", "object", "additionalProperties", number()),
				"description", "Each delivery consumer's pending and ackPending messages."),
			"streams", o("type", "object", "additionalProperties", number(), "description", "Each stream's last sequence."),
		),
		"Healthz", object([]string{"status"}, "status", str("enum", []string{"ok"})),
		"Readiness", object([]string{"ready"},
			"ready", boolean(),
			"failing", array(str(), "description", "What keeps the engine from serving: nats, a view, a delivery component."),
		),

		// The Lithic face.
		"V1Subscription", describe(object([]string{"token", "description", "disabled", "url", "event_types", "filter", "ordering", "rate_limit"},
			"token", ref("Locator"),
			"description", str(),
			"disabled", boolean(),
			"url", str(),
			"event_types", nullable(array(str())).with("description", "Null: every type."),
			"filter", describe(ref("Filter"), "Extension: the payload filter."),
			"ordering", describe(ref("Ordering"), "Extension."),
			"rate_limit", describe(ref("RateLimit"), "Extension: deliveries per second."),
		), "An event subscription (a webhook): description is its name, disabled is not enabled."),
		"V1SubscriptionCreate", describe(lenient([]string{"url"},
			"url", ref("URL"),
			"description", str("maxLength", hookstream.MaxNameLength),
			"disabled", boolean("default", false),
			"event_types", array(ref("EventType"), "maxItems", hookstream.MaxEventTypes),
			"filter", ref("Filter"),
			"ordering", ref("Ordering"),
			"rate_limit", ref("RateLimit"),
		), "Unknown fields are ignored, as Lithic does (a near miss of a known name is refused). Retries default to exponential, interval 5 s, 8 attempts."),
		"V1SubscriptionUpdate", describe(lenient(nil,
			"url", ref("URL"),
			"description", str("maxLength", hookstream.MaxNameLength),
			"disabled", boolean(),
			"event_types", array(ref("EventType"), "maxItems", hookstream.MaxEventTypes, "description", "The whole new list."),
			"filter", describe(ref("Filter"), "Null removes it."),
			"ordering", nullable(ref("Ordering")).with("description", "Null sets it back to none."),
			"rate_limit", describe(ref("RateLimit"), "Null removes it."),
		), "Absent fields stay unchanged. Unknown fields are ignored."),
		"V1SubscriptionPage", page("V1Subscription"),
		"V1Event", object([]string{"token", "created", "event_type", "payload"},
			"token", ref("Locator"),
			"created", dateTime(),
			"event_type", ref("EventType"),
			"payload", o("type", "object", "description", "{} when with_content=false."),
		),
		"V1EventPage", page("V1Event"),
		"V1Attempt", object([]string{"token", "created", "event_subscription_token", "event_token", "response", "response_status_code", "status", "url"},
			"token", ref("Locator"),
			"created", dateTime(),
			"event_subscription_token", ref("Locator"),
			"event_token", ref("Locator"),
			"response", str("description", "The endpoint's answer (its first 4 KiB), or what went wrong when there was none."),
			"response_status_code", integer("minimum", 0),
			"status", ref("AttemptStatus"),
			"url", str(),
			"due", dateTime("description", "Extension: when a PENDING attempt will be sent."),
			"retry_after", integer("minimum", 0, "description", "Extension: seconds a 429 or 503 answer asked to wait."),
		),
		"V1AttemptPage", page("V1Attempt"),
		"V1Secret", object([]string{"secret"}, "secret", str("pattern", secretPattern)),
		"V1SendExample", lenient(nil,
			"event_type", describe(ref("EventType"), "Default card.created."),
		),
	)
}

func outcomeProps() []any {
	ms := nullable(number("minimum", 0))
	return []any{
		"success", integer("minimum", 0),
		"failed", integer("minimum", 0),
		"pending", integer("minimum", 0),
		"successRate", nullable(number("minimum", 0, "maximum", 1, "description", "success / (success + failed); null when nothing ended.")),
		"p50Ms", ms,
		"p99Ms", ms,
	}
}

func page(item string) obj {
	return object([]string{"data", "has_more"}, "data", array(ref(item)), "has_more", boolean())
}
