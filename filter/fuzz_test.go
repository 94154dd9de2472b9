package filter_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookstream/hookstream/filter"
)

// FuzzParse feeds the parser arbitrary text: it must answer a filter or a *filter.Error, never panic, and a
// filter it accepts must evaluate on any event without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"type": "a"}`, `{"data.a.b": {"$gt": 1, "$lt": "z"}}`,
		`{"$or": [{"data.x": {"$in": [1, "a", null, true]}}, {"requestId": {"$exists": true}}]}`,
		`{"data.0": {"$prefix": ""}}`, `{"$and": [{"$or": [{"$and": [{"type": 1}]}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		flt, err := filter.Parse(raw)
		if err != nil {
			var fe *filter.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse returned %T, want *filter.Error", err)
			}
			return
		}
		for _, data := range []string{sample, `{}`, `{"a": [1, {"b": "z"}], "x": null}`, `not json`} {
			flt.Match(event(data))
		}
		// The text that parsed also serves as event data.
		flt.Match(event(string(raw)))
	})
}

// FuzzMatchAgreesWithDecoding checks the in-place reading of event data against encoding/json: on any valid
// JSON object, whether a path exists and whether it equals the decoded scalar must agree.
func FuzzMatchAgreesWithDecoding(f *testing.F) {
	f.Add([]byte(richer), "deep.list.1.x")
	f.Add([]byte(`{"a": 1, "a": "x"}`), "a")
	f.Add([]byte(`{"a\u0062": [1, {"c": null}]}`), "ab.1.c")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		var doc any
		// encoding/json replaces invalid UTF-8 where the filter compares bytes as they are: only valid text
		// is compared.
		if !utf8.Valid(data) || !utf8.ValidString(path) || json.Unmarshal(data, &doc) != nil ||
			strings.Contains(path, `"`) || strings.Contains(path, `\`) {
			return
		}
		if _, isObject := doc.(map[string]any); !isObject {
			return
		}
		want, exists := walk(doc, strings.Split(path, "."))
		key, _ := json.Marshal("data." + path)
		flt, err := filter.Parse([]byte(`{` + string(key) + `: {"$exists": true}}`))
		if err != nil {
			return // not a path a filter may hold
		}
		if got := flt.Match(event(string(data))); got != exists {
			t.Fatalf("exists(%q) = %v, encoding/json says %v", path, got, exists)
		}
		lit, err := json.Marshal(want)
		if !exists || err != nil {
			return
		}
		switch want.(type) {
		case map[string]any, []any:
			return
		}
		eq, err := filter.Parse([]byte(`{` + string(key) + `: {"$eq": ` + string(lit) + `}}`))
		if err != nil {
			return
		}
		if !eq.Match(event(string(data))) {
			t.Fatalf("%q does not equal %s, its decoded value", path, lit)
		}
	})
}

func walk(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
