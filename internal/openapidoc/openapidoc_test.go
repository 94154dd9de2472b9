package openapidoc_test

import (
	"bytes"
	"testing"

	"github.com/hookstream/hookstream/httpapi"
	"github.com/hookstream/hookstream/internal/openapidoc"
)

// TestCommittedDocumentIsCurrent fails when httpapi/openapi.json is not what the generator writes now: run
// go generate ./httpapi after changing the generator or a limit it reads.
func TestCommittedDocumentIsCurrent(t *testing.T) {
	want, err := openapidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(httpapi.OpenAPI(), want) {
		t.Fatal("httpapi/openapi.json is stale: run go generate ./httpapi")
	}
}
