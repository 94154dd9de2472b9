package filter_test

import (
	"errors"
	"testing"

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
