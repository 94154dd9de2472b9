package hookstream_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestJetStreamStaysInBroker keeps JetStream behind broker/ (writes, consumers, leases) and projections/
// (the views' own consumers): the delivery core, the commands and the API speak in the broker's terms, so a
// change of how the streams are written has one place to go. The load generator, bench, is the one outside
// tool allowed a client of its own: it publishes as any producer would, with the client's asynchronous
// publishes.
func TestJetStreamStaysInBroker(t *testing.T) {
	allowed := map[string]bool{"broker": true, "projections": true, "bench": true}
	const jetstream = "github.com/nats-io/nats.go/jetstream"
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		top := strings.Split(filepath.ToSlash(path), "/")[0]
		if allowed[top] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == jetstream {
				t.Errorf("%s imports %s: go through broker/ instead", path, jetstream)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
