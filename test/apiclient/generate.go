// Package apiclient is a Go client generated from hookstream's OpenAPI document by oapi-codegen, so that the
// end-to-end tests can prove the document is usable as it stands: a test regenerates it and fails when the
// committed client differs, and another drives a real engine with it.
package apiclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml -o client.gen.go ../../httpapi/openapi.json
