package openapidoc

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hookstream/hookstream/httpapi"
)

// face is one API's error shape: the Socotra routes (and /admin, the console's, the probes) answer Error, the
// /v1 routes V1Error.
type face string

const (
	socotra face = "Error"
	lithic  face = "V1Error"
)

func jsonContent(schema obj) obj { return o("application/json", o("schema", schema)) }

func response(desc string, schema obj, kv ...any) obj {
	return o("description", desc, "content", jsonContent(schema)).with(kv...)
}

// responseExample is response with one example of the answer.
func responseExample(desc string, schema obj, summary string, value any) obj {
	return o("description", desc, "content", o("application/json", o("schema", schema,
		"examples", o("example", example(summary, value)))))
}

func noContent(desc string) obj { return o("description", desc) }

// errorResponses lists the error answers of an operation, by status, in the face's shape.
func errorResponses(f face, statuses ...int) []any {
	out := make([]any, 0, 2*len(statuses))
	for _, s := range statuses {
		out = append(out, strconv.Itoa(s), o("$ref", fmt.Sprintf("#/components/responses/%s%d", f, s)))
	}
	return out
}

func param(name string) obj { return o("$ref", "#/components/parameters/"+name) }

// operation describes one route: ok alternates status codes and responses; errs are the error statuses
// besides those every route of its kind answers.
type operation struct {
	id, summary, description string
	tag                      string
	params                   []any
	body                     obj
	ok                       []any
	errs                     []int
	public                   bool
}

func (op operation) render(f face) obj {
	s := o("operationId", op.id, "summary", op.summary, "tags", []string{op.tag})
	if op.description != "" {
		s = s.with("description", op.description)
	}
	if len(op.params) > 0 {
		s = s.with("parameters", op.params)
	}
	if op.body != nil {
		s = s.with("requestBody", op.body)
	}
	s = s.with("responses", o(append(op.ok, errorResponses(f, op.errs...)...)...))
	if op.public {
		s = s.with("security", []any{})
	}
	return s
}

func strictBody(schema string, examples ...any) obj {
	media := o("schema", ref(schema))
	if len(examples) > 0 {
		media = media.with("examples", o(examples...))
	}
	return o("required", true, "content", o("application/json", media))
}

func example(summary string, value any) obj { return o("summary", summary, "value", value) }

// Error statuses every route of a kind can answer: a malformed query string (400), the rate limit (429), a
// panic (500), an engine still starting or without its broker (503); and for a route that takes a token,
// none or a bad one (401), one without the permission or the tenant (403).
var (
	tenantErrs = []int{400, 401, 403, 429, 500, 503}
	v1Errs     = []int{400, 401, 403, 404, 429, 500, 503}
)

func plus(base []int, more ...int) []int {
	out := append([]int(nil), base...)
	return append(out, more...)
}

// exampleTenant is the tenant of the examples.
const exampleTenant = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"

func paths() obj {
	tenant := []any{param("tenantLocator")}
	webhook := []any{param("tenantLocator"), param("webhookLocator")}
	diverted := []any{param("tenantLocator"), param("webhookLocator"), param("eventLocator")}
	v1sub := []any{param("HookstreamTenant"), param("event_subscription_token")}
	v1ev := []any{param("HookstreamTenant"), param("event_token")}
	v1cursor := []any{param("page_size"), param("starting_after"), param("ending_before"), param("begin"), param("end")}
	v1attempts := append(append([]any{}, v1cursor...), param("v1status"))

	createExample := o("name", "orders", "endpoint", o("url", "https://example.com/hooks"),
		"eventTypes", []string{"policy.issue"},
		"failureHandling", o("retryStrategy", o("attempts", 3, "interval", 10, "type", "exponential", "jitter", 0.1),
			"divert", true, "triggers", []string{"5xx", "timeout"}))

	socotraPaths := []any{
		"/event/{tenantLocator}/events", "post", operation{
			id: "publishEvent", summary: "Ingest an event", tag: "events",
			description: "Accepted once durable. The producer's traceparent (and tracestate), when valid, parents the event's trace.",
			params:      append(append([]any{}, tenant...), param("Idempotency-Key"), param("traceparent"), param("tracestate")),
			body: strictBody("EventCreate", "issue", example("A policy issued",
				o("type", "policy.issue", "data", o("policyLocator", "P-1001", "premium", 1200), "requestId", "req-42"))),
			ok: []any{"202", responseExample("The event, as it will be delivered.", ref("Event"), "The event accepted", o(
				"locator", "01JDQ3V6E60000000000000001", "type", "policy.issue", "tenantLocator", exampleTenant,
				"timestamp", "2026-12-03T09:00:00.123Z", "requestId", "req-42", "data", o("policyLocator", "P-1001", "premium", 1200)))},
			errs: plus(tenantErrs, 413),
		},
		"/event/{tenantLocator}/events/batch", "post", operation{
			id: "publishEventBatch", summary: "Ingest up to 1,000 events at once", tag: "events",
			description: "Each event is checked and stored on its own: one that is not valid fails alone, and every locator answered is stored. " +
				"With Idempotency-Key, a repeat of the batch answers each event with the first batch's event at the same place.",
			params: append(append([]any{}, tenant...), param("Idempotency-Key"), param("traceparent"), param("tracestate")),
			body: strictBody("EventBatch", "mixed", example("Two events, the second not valid",
				o("events", []any{o("type", "policy.issue", "data", o("policyLocator", "P-1001")), o("type", "", "data", o())}))),
			ok: []any{"202", responseExample("One result per event, in order.", ref("EventBatchResults"), "One stored, one refused", o(
				"results", []any{
					o("locator", "01JDQ3V6E60000000000000001", "type", "policy.issue", "tenantLocator", exampleTenant,
						"timestamp", "2026-12-03T09:00:00.123Z", "data", o("policyLocator", "P-1001")),
					o("error", o("code", "invalid", "message", "is required", "field", "events[1].type")),
				}))},
			errs: plus(tenantErrs, 413),
		},
		"/event/{tenantLocator}/events/list", "get", operation{
			id: "listEvents", summary: "List events in ingestion order", tag: "events",
			params: append(append([]any{}, tenant...), param("startTimestamp"), param("endTimestamp"), param("type"),
				param("eventsPageSize"), param("pagingToken")),
			ok:   []any{"200", response("A page of events; every page, even an empty one, has a pagingToken.", ref("EventList"))},
			errs: tenantErrs,
		},
		"/event/{tenantLocator}/events/{eventLocator}", "get", operation{
			id: "getEvent", summary: "Fetch an event", tag: "events",
			params: []any{param("tenantLocator"), param("eventLocator")},
			ok:     []any{"200", response("The event.", ref("Event"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/stats", "get", operation{
			id: "tenantStats", summary: "A tenant's activity over a window", tag: "console",
			description: "Needs events.list or events.read, and webhooks.list or webhooks.read.",
			params:      append(append([]any{}, tenant...), param("window")),
			ok:          []any{"200", response("Events, attempts and webhooks over the window.", ref("TenantStats"))},
			errs:        tenantErrs,
		},
		"/event/{tenantLocator}/webhooks", "post", operation{
			id: "createWebhook", summary: "Create a webhook", tag: "webhooks",
			params: tenant,
			body:   strictBody("WebhookCreate", "create", example("A webhook with retries", createExample)),
			ok: []any{"200", responseExample("The webhook, with its secrets in full.", ref("Webhook"), "The webhook created", o(
				"locator", "01JDQ3V6E6Y9X2N7R4K8T5M0AB", "name", "orders", "enabled", true,
				"endpoint", o("url", "https://example.com/hooks", "hmacEnabled", true,
					"secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secureSsl", true, "tag", "", "headers", o(),
					"rateLimit", nil),
				"failureHandling", o("alertEndpoint", nil, "divert", true,
					"retryStrategy", o("attempts", 3, "interval", 10, "type", "exponential", "jitter", 0.1),
					"suspend", false, "triggers", []string{"5xx", "timeout"}),
				"suspended", false, "suspendedAt", nil, "eventTypes", []string{"policy.issue"}, "filter", nil, "ordering", "none"))},
			errs: plus(tenantErrs, 413),
		},
		"/event/{tenantLocator}/webhooks/list", "get", operation{
			id: "listWebhooks", summary: "List webhooks in creation order", tag: "webhooks",
			params: append(append([]any{}, tenant...), param("offset"), param("count"), param("name"), param("enabled"),
				param("suspended"), param("active"), param("eventTypes"), param("extended")),
			ok:   []any{"200", response("A page of webhooks.", ref("WebhookList"))},
			errs: tenantErrs,
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}", "get", operation{
			id: "getWebhook", summary: "Fetch a webhook", tag: "webhooks",
			params: webhook,
			ok:     []any{"200", response("The webhook, secrets masked.", ref("Webhook"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}", "patch", operation{
			id: "updateWebhook", summary: "Change a webhook", tag: "webhooks",
			params: webhook,
			body: strictBody("WebhookUpdate", "disable", example("Disable and add a type",
				o("enabled", false, "addEventTypes", []string{"policy.cancel"}))),
			ok:   []any{"200", response("The webhook, secrets masked.", ref("Webhook"))},
			errs: plus(tenantErrs, 404, 409, 413),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}", "delete", operation{
			id: "deleteWebhook", summary: "Delete a webhook", tag: "webhooks",
			params: webhook,
			ok:     []any{"204", noContent("Deleted.")},
			errs:   plus(tenantErrs, 404, 409),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/unsuspend", "patch", operation{
			id: "unsuspendWebhook", summary: "Unsuspend a webhook", tag: "webhooks",
			description: "The events held while it was suspended are delivered in order.",
			params:      webhook,
			ok:          []any{"204", noContent("Unsuspended (or was not suspended).")},
			errs:        plus(tenantErrs, 404, 409),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/history", "get", operation{
			id: "webhookHistory", summary: "Every change to a webhook, oldest first", tag: "webhooks",
			params: webhook,
			ok:     []any{"200", response("The change events, secrets masked.", ref("History"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/attempts", "get", operation{
			id: "webhookAttempts", summary: "A webhook's attempts, newest first", tag: "console",
			params: append(append([]any{}, webhook...), param("attemptsPageSize"), param("attemptsPagingToken"), param("status"),
				param("startTimestamp"), param("endTimestamp")),
			ok:   []any{"200", response("A page of attempts.", ref("AttemptList"))},
			errs: plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/stats", "get", operation{
			id: "webhookStats", summary: "A webhook's attempts over a window", tag: "console",
			params: append(append([]any{}, webhook...), param("window")),
			ok:     []any{"200", response("Counts and latency percentiles, in total and by bucket.", ref("WebhookStats"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/diverted", "get", operation{
			id: "listDiverted", summary: "A webhook's diverted events, oldest first", tag: "diverted-events",
			params: append(append([]any{}, webhook...), param("offset"), param("count")),
			ok:     []any{"200", response("The diverted events.", array(ref("DivertedEvent")))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/diverted/{eventLocator}", "get", operation{
			id: "getDiverted", summary: "Fetch a diverted event", tag: "diverted-events",
			params: diverted,
			ok:     []any{"200", response("The diverted event.", ref("DivertedEvent"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/diverted/{eventLocator}", "delete", operation{
			id: "deleteDiverted", summary: "Delete a diverted event", tag: "diverted-events",
			params: diverted,
			ok:     []any{"200", response("Deleted.", ref("Empty"))},
			errs:   plus(tenantErrs, 404),
		},
		"/event/{tenantLocator}/webhooks/{webhookLocator}/diverted/{eventLocator}/resend", "post", operation{
			id: "resendDiverted", summary: "Deliver a diverted event again", tag: "diverted-events",
			description: "Under the webhook's current failure handling; the record goes when the resend succeeds. " +
				"409 when the event is no longer retained.",
			params: diverted,
			ok:     []any{"200", response("Queued.", ref("Empty"))},
			errs:   plus(tenantErrs, 404, 409),
		},
	}

	adminErrs := []int{400, 401, 403, 429, 500, 503}
	otherPaths := []any{
		"/admin/tokens", "post", operation{
			id: "createToken", summary: "Mint an API token (admin only)", tag: "admin",
			body: strictBody("TokenCreate", "token", example("A read-only token",
				o("name", "dashboard", "tenants", []string{exampleTenant},
					"permissions", []string{"webhooks.read", "webhooks.list"}))),
			ok:   []any{"201", response("The token, its secret shown this once.", ref("Token"))},
			errs: plus(adminErrs, 413),
		},
		"/admin/tokens", "get", operation{
			id: "listTokens", summary: "List tokens (admin only)", tag: "admin",
			ok:   []any{"200", response("Every token, without secrets.", ref("TokenList"))},
			errs: adminErrs,
		},
		"/admin/tokens/{tokenLocator}", "delete", operation{
			id: "revokeToken", summary: "Revoke a token at once (admin only)", tag: "admin",
			params: []any{param("tokenLocator")},
			ok:     []any{"204", noContent("Revoked.")},
			errs:   plus(adminErrs, 404, 409),
		},
		"/admin/health", "get", operation{
			id: "adminHealth", summary: "The engine's state (admin only)", tag: "console",
			ok:   []any{"200", response("Readiness, view lags, consumer backlogs and stream sequences.", ref("Health"))},
			errs: adminErrs,
		},
		"/whoami", "get", operation{
			id: "whoami", summary: "What the request's token may do", tag: "console",
			ok:   []any{"200", response("The token's tenants and permissions.", ref("Whoami"))},
			errs: []int{400, 401, 429, 500, 503},
		},
		"/healthz", "get", operation{
			id: "healthz", summary: "The process is up", tag: "probes", public: true,
			ok:   []any{"200", response("Up.", ref("Healthz"))},
			errs: []int{400},
		},
		"/healthz", "head", operation{
			id: "healthzHead", summary: "The process is up", tag: "probes", public: true,
			ok:   []any{"200", noContent("Up.")},
			errs: []int{400},
		},
		"/readyz", "get", operation{
			id: "readyz", summary: "The engine can serve", tag: "probes", public: true,
			description: "Ready when NATS is connected, the views have caught up and every delivery component runs.",
			ok: []any{"200", response("Ready.", ref("Readiness")),
				"503", response("Not ready: failing names what is not.", ref("Readiness"),
					"headers", o("Retry-After", o("$ref", "#/components/headers/Retry-After")))},
			errs: []int{400},
		},
		"/readyz", "head", operation{
			id: "readyzHead", summary: "The engine can serve", tag: "probes", public: true,
			ok:   []any{"200", noContent("Ready."), "503", noContent("Not ready.")},
			errs: []int{400},
		},
		"/metrics", "get", operation{
			id: "metrics", summary: "Prometheus metrics", tag: "probes", public: true,
			ok: []any{"200", o("description", "The metrics, in the exposition format the scraper negotiates.",
				"content", o("text/plain", o("schema", str()), "application/openmetrics-text", o("schema", str()),
					"application/vnd.google.protobuf", o("schema", str("contentMediaType", "application/vnd.google.protobuf"))))},
			errs: []int{400},
		},
		"/openapi.json", "get", operation{
			id: "openapi", summary: "This document", tag: "probes", public: true,
			ok:   []any{"200", response("The OpenAPI document.", o("type", "object"))},
			errs: []int{400},
		},
		"/console", "get", operation{
			id: "console", summary: "Redirect to the web console", tag: "console", public: true,
			ok: []any{"301", o("description", "To /console/.", "headers", o("Location", o("schema", str())),
				"content", o("text/html", o("schema", str())))},
			errs: []int{400, 429, 500, 503},
		},
		"/console", "head", operation{
			id: "consoleHead", summary: "Redirect to the web console", tag: "console", public: true,
			ok: []any{"301", o("description", "To /console/.", "headers", o("Location", o("schema", str())),
				"content", o("text/html", o("schema", str())))},
			errs: []int{400, 429, 500, 503},
		},
	}

	const subs = "/v1/event_subscriptions"
	const sub = subs + "/{event_subscription_token}"
	v1Paths := []any{
		subs, "get", operation{
			id: "v1ListEventSubscriptions", summary: "List event subscriptions", tag: "v1",
			params: append([]any{param("HookstreamTenant")}, param("page_size"), param("starting_after"), param("ending_before")),
			ok:     []any{"200", response("A page of subscriptions.", ref("V1SubscriptionPage"))},
			errs:   []int{400, 401, 403, 429, 500, 503},
		},
		subs, "post", operation{
			id: "v1CreateEventSubscription", summary: "Create an event subscription", tag: "v1",
			params: []any{param("HookstreamTenant")},
			body: o("required", true, "content", o("application/json", o("schema", ref("V1SubscriptionCreate"),
				"examples", o("create", example("A subscription", o("url", "https://example.com/lithic", "description", "cards",
					"event_types", []string{"card.created"})))))),
			ok: []any{"201", responseExample("The subscription.", ref("V1Subscription"), "The subscription created", o(
				"token", "01JDQ3V6E6Y9X2N7R4K8T5M0AB", "description", "cards", "disabled", false,
				"url", "https://example.com/lithic", "event_types", []string{"card.created"}, "filter", nil,
				"ordering", "none", "rate_limit", nil))},
			errs: []int{400, 401, 403, 413, 429, 500, 503},
		},
		sub, "get", operation{
			id: "v1GetEventSubscription", summary: "Fetch an event subscription", tag: "v1",
			params: v1sub,
			ok:     []any{"200", response("The subscription.", ref("V1Subscription"))},
			errs:   v1Errs,
		},
		sub, "patch", operation{
			id: "v1UpdateEventSubscription", summary: "Change an event subscription", tag: "v1",
			params: v1sub,
			body:   o("required", true, "content", o("application/json", o("schema", ref("V1SubscriptionUpdate")))),
			ok:     []any{"200", response("The subscription.", ref("V1Subscription"))},
			errs:   plus(v1Errs, 409, 413),
		},
		sub, "delete", operation{
			id: "v1DeleteEventSubscription", summary: "Delete an event subscription", tag: "v1",
			params: v1sub,
			ok:     []any{"204", noContent("Deleted.")},
			errs:   plus(v1Errs, 409),
		},
		sub + "/attempts", "get", operation{
			id: "v1ListSubscriptionAttempts", summary: "A subscription's message attempts", tag: "v1",
			params: append(append([]any{}, v1sub...), v1attempts...),
			ok:     []any{"200", response("A page of attempts, newest first.", ref("V1AttemptPage"))},
			errs:   v1Errs,
		},
		sub + "/recover", "post", operation{
			id: "v1Recover", summary: "Resend every event whose delivery finally failed", tag: "v1",
			description: "Runs in the background; survives restarts.",
			params:      append(append([]any{}, v1sub...), param("begin"), param("end")),
			ok:          []any{"202", noContent("Started.")},
			errs:        v1Errs,
		},
		sub + "/replay_missing", "post", operation{
			id: "v1ReplayMissing", summary: "Send every matching event never attempted for the subscription", tag: "v1",
			description: "Runs in the background; survives restarts.",
			params:      append(append([]any{}, v1sub...), param("begin"), param("end")),
			ok:          []any{"202", noContent("Started.")},
			errs:        v1Errs,
		},
		sub + "/secret", "get", operation{
			id: "v1GetSecret", summary: "A subscription's signing secret", tag: "v1",
			params: v1sub,
			ok:     []any{"200", response("The secret.", ref("V1Secret"))},
			errs:   v1Errs,
		},
		sub + "/secret/rotate", "post", operation{
			id: "v1RotateSecret", summary: "Rotate a subscription's secret", tag: "v1",
			description: "The previous secret keeps signing for 24 hours.",
			params:      v1sub,
			ok:          []any{"204", noContent("Rotated.")},
			errs:        plus(v1Errs, 409),
		},
		"/v1/events", "get", operation{
			id: "v1ListEvents", summary: "List events", tag: "v1",
			params: append(append([]any{param("HookstreamTenant")}, v1cursor...), param("event_types"), param("with_content")),
			ok:     []any{"200", response("A page of events.", ref("V1EventPage"))},
			errs:   []int{400, 401, 403, 429, 500, 503},
		},
		"/v1/events/{event_token}", "get", operation{
			id: "v1GetEvent", summary: "Fetch an event", tag: "v1",
			params: v1ev,
			ok:     []any{"200", response("The event.", ref("V1Event"))},
			errs:   v1Errs,
		},
		"/v1/events/{event_token}/attempts", "get", operation{
			id: "v1ListEventAttempts", summary: "An event's message attempts", tag: "v1",
			params: append(append([]any{}, v1ev...), v1attempts...),
			ok:     []any{"200", response("A page of attempts, newest first.", ref("V1AttemptPage"))},
			errs:   v1Errs,
		},
		"/v1/events/{event_token}/event_subscriptions/{event_subscription_token}/resend", "post", operation{
			id: "v1Resend", summary: "Send an event to a subscription again", tag: "v1",
			params: []any{param("HookstreamTenant"), param("event_token"), param("event_subscription_token")},
			ok:     []any{"202", noContent("Queued.")},
			errs:   v1Errs,
		},
		"/v1/simulate/event_subscriptions/{event_subscription_token}/send_example", "post", operation{
			id: "v1SendExample", summary: "Deliver an example event to a subscription", tag: "v1",
			description: "The example is not an ingested event: no other subscription receives it. The body is optional.",
			params:      v1sub,
			body:        o("required", false, "content", o("application/json", o("schema", ref("V1SendExample")))),
			ok:          []any{"202", noContent("Queued.")},
			errs:        plus(v1Errs, 413),
		},
	}

	out := obj{}
	add := func(f face, list []any) {
		for i := 0; i < len(list); i += 3 {
			path, method, op := list[i].(string), list[i+1].(string), list[i+2].(operation)
			rendered := op.render(f)
			for j := range out {
				if out[j].key == path {
					out[j].value = out[j].value.(obj).with(method, rendered)
					rendered = nil
				}
			}
			if rendered != nil {
				out = append(out, member{key: path, value: o(method, rendered)})
			}
		}
	}
	add(socotra, socotraPaths)
	add(socotra, otherPaths)
	add(lithic, v1Paths)
	return out
}

func parameters() obj {
	path := func(name, schema, desc string) obj {
		return o("name", name, "in", "path", "required", true, "schema", ref(schema), "description", desc)
	}
	query := func(name string, schema obj, desc string) obj {
		return o("name", name, "in", "query", "schema", schema, "description", desc)
	}
	list := func(name, desc string) obj {
		return o("name", name, "in", "query", "style", "form", "explode", true,
			"schema", array(str(), "description", "Each item one event type, or several comma-separated."), "description", desc)
	}
	return o(
		"tenantLocator", path("tenantLocator", "TenantLocator", "The tenant; 400 unless a lowercase UUID."),
		"webhookLocator", path("webhookLocator", "Locator", "The webhook; 400 unless a ULID, 404 unless the tenant's."),
		"eventLocator", path("eventLocator", "Locator", "The event; 400 unless a ULID, 404 unless the tenant's."),
		"tokenLocator", path("tokenLocator", "Locator", "The token; 400 unless a ULID."),
		"event_subscription_token", path("event_subscription_token", "Locator", "The subscription; 404 unless a token hookstream issued for the tenant."),
		"event_token", path("event_token", "Locator", "The event; 404 unless a token hookstream issued for the tenant."),
		"HookstreamTenant", o("name", httpapi.TenantHeader, "in", "header", "schema", ref("TenantLocator"),
			"description", "The tenant, for a token of several tenants or the admin token (400 when needed and missing, or not the token's). "+
				"A token of one tenant may leave it out."),
		"Idempotency-Key", o("name", "Idempotency-Key", "in", "header", "schema", str("maxLength", httpapi.MaxIdempotencyKeyLength),
			"description", "Deduplicates the event within the stream's duplicate window."),
		"traceparent", o("name", "traceparent", "in", "header", "schema", str(), "description", "W3C trace context; an invalid one is ignored."),
		"tracestate", o("name", "tracestate", "in", "header", "schema", str(), "description", "W3C trace state, kept with a valid traceparent."),
		"startTimestamp", query("startTimestamp", dateTime(), "Only what was created at or after this time (RFC 3339)."),
		"endTimestamp", query("endTimestamp", dateTime(), "Only what was created before this time (RFC 3339)."),
		"type", list("type", "Only events of these types (repeated or comma-separated)."),
		"eventTypes", list("eventTypes", "Only webhooks that receive any of these types (repeated or comma-separated)."),
		"event_types", list("event_types", "Only events of these types (comma-separated, or repeated)."),
		"eventsPageSize", query("pageSize", integer("minimum", 1, "maximum", 1000, "default", 100), "Events per page."),
		"attemptsPageSize", query("pageSize", integer("minimum", 1, "maximum", 1000, "default", 50), "Attempts per page."),
		"pagingToken", query("pagingToken", str("maxLength", 4096), "A token from a previous page: continues that query (its filters win over the parameters)."),
		"attemptsPagingToken", query("pagingToken", str("maxLength", 4096), "A token from a previous page: continues that query to older attempts."),
		"status", query("status", ref("AttemptStatus"), "Only attempts in this state."),
		"v1status", query("status", ref("AttemptStatus"), "Only attempts in this state."),
		"window", query("window", ref("StatsWindow"), "1h (by the minute) or 24h (by the quarter hour)."),
		"offset", query("offset", integer("minimum", 0, "maximum", 1<<30, "default", 0), "Items to skip."),
		"count", query("count", integer("minimum", 1, "maximum", 1000, "default", 100), "Items per page."),
		"name", query("name", str(), "Only webhooks whose name contains this, ignoring case."),
		"enabled", query("enabled", boolean(), "Only enabled (true) or disabled (false) webhooks."),
		"suspended", query("suspended", boolean(), "Only suspended (true) or unsuspended (false) webhooks."),
		"active", query("active", boolean(), "Only active (enabled and not suspended) webhooks, or only inactive ones."),
		"extended", query("extended", boolean(), "Secrets in full, for a token with webhooks.write."),
		"page_size", query("page_size", integer("minimum", 1, "maximum", 100, "default", 50), "Items per page."),
		"starting_after", query("starting_after", ref("Locator"), "The page after this token; not with ending_before."),
		"ending_before", query("ending_before", ref("Locator"), "The page before this token; not with starting_after."),
		"begin", query("begin", dateTime(), "Only what was created at or after this time (RFC 3339)."),
		"end", query("end", dateTime(), "Only what was created before this time (RFC 3339)."),
		"with_content", query("with_content", boolean("default", true), "false: payloads are {}."),
	)
}

func responses() obj {
	texts := map[int]string{
		400: "Bad input: a malformed body, query value, locator or header; field names it.",
		401: "No token, or a token that is unknown, revoked or expired.",
		403: "The token lacks the permission or the tenant.",
		404: "Not found in the path's tenant.",
		409: "A write that lost a race too often, or a resend of an event no longer retained.",
		413: fmt.Sprintf("The request body exceeds %d bytes.", httpapi.MaxBodyBytes),
		429: "Over the per-token rate limit; Retry-After says when to try again.",
		500: "An internal error; the message (or debugging_request_id) carries the request id the server logged it with.",
		503: "The engine is starting (its views are catching up) or, for a write, without its message broker; Retry-After says when to try again.",
	}
	out := obj{}
	for _, f := range []face{socotra, lithic} {
		for _, s := range []int{400, 401, 403, 404, 409, 413, 429, 500, 503} {
			r := o("description", texts[s], "content", jsonContent(ref(string(f))))
			if s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
				r = r.with("headers", o("Retry-After", o("$ref", "#/components/headers/Retry-After")))
			}
			out = append(out, member{key: fmt.Sprintf("%s%d", f, s), value: r})
		}
	}
	return out
}
