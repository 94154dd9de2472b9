// Package openapidoc writes hookstream's OpenAPI 3.1 document, httpapi/openapi.json, from the limits and
// names the engine enforces: go generate in httpapi runs it, and a test in httpapi fails when the committed
// document is not what it writes.
package openapidoc

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hookstream/hookstream/engine"
)

const description = `hookstream delivers webhooks from NATS JetStream. Two faces serve one model: the Socotra-style API ` +
	"under `/event/{tenantLocator}` (errors `{\"code\", \"message\", \"field\"?}`) and the Lithic-compatible API under " +
	"`/v1` (errors `{\"message\", \"debugging_request_id\"}`), beside the admin token API, the web console's API routes " +
	"and the probes.\n\n" +
	"Authentication: `Authorization: Bearer <token>`, or the bare token as the Lithic SDK sends it. On `/v1`, a token of " +
	"several tenants, or the admin token, names the tenant in the `Hookstream-Tenant` header.\n\n" +
	"Every response carries `X-Request-Id`. A path that no route matches answers 404, a method a route does not serve " +
	"405, both in the shape of the path's face. Every request body is limited to 1 MiB (413) and read as JSON whatever its " +
	"Content-Type (send application/json). In a request body, null for an optional field is the same as leaving it out, " +
	"unless the field says that null clears it. A malformed query string is a 400 on every route.\n\n" +
	"The web console's static assets under `/console/` are served too but not described here."

// Document returns the OpenAPI document.
func Document() any {
	return o(
		"openapi", "3.1.0",
		"info", o(
			"title", "hookstream",
			"version", engine.Version,
			"description", description,
			"license", o("name", "Apache-2.0", "identifier", "Apache-2.0"),
		),
		"jsonSchemaDialect", "https://spec.openapis.org/oas/3.1/dialect/base",
		"servers", []any{o("url", "/", "description", "The engine's HTTP listener (serve --http).")},
		"security", []any{o("bearerAuth", []string{}), o("rawToken", []string{})},
		"tags", []any{
			o("name", "events", "description", "Ingesting and reading events (Socotra face)."),
			o("name", "webhooks", "description", "Webhooks (Socotra face)."),
			o("name", "diverted-events", "description", "Events whose delivery finally failed while divert was on (Socotra face)."),
			o("name", "console", "description", "Routes the web console reads; usable by any client."),
			o("name", "admin", "description", "API tokens, for the admin token only."),
			o("name", "v1", "description", "The Lithic-compatible face: works unchanged with the official Lithic SDK."),
			o("name", "probes", "description", "Health, readiness, metrics and this document; no token needed."),
		},
		"paths", paths(),
		"components", o(
			"schemas", schemas(),
			"parameters", parameters(),
			"responses", responses(),
			"headers", o("Retry-After", o("description", "Seconds to wait before trying again.",
				"schema", integer("minimum", 1))),
			"securitySchemes", o(
				"bearerAuth", o("type", "http", "scheme", "bearer", "description", "Authorization: Bearer <token>."),
				"rawToken", o("type", "apiKey", "in", "header", "name", "Authorization",
					"description", "Authorization: <token>, without a scheme, as the Lithic SDK sends it."),
			),
		),
	)
}

// JSON returns the document as indented JSON with a final newline.
func JSON() ([]byte, error) {
	data, err := marshal(Document())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return nil, fmt.Errorf("indent the document: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
