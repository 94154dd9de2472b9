package filter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/filter"
)

func event(data string) *filter.Event {
	return &filter.Event{Locator: "01J00000000000000000000001", Type: "card.created", TenantLocator: "9a0c5b7e-3a7a-4c64-9f64-0e7a9b4f1c11",
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(data)}
}

const sample = `{"amount": 120, "currency": "EUR", "card": {"last4": "4242", "tags": ["gold", "eu"]}, "flag": true, "none": null, "items": [{"sku": "a"}, {"sku": "b"}]}`

// richer is sample with the corners of JSON text: duplicate keys, escapes, strings holding brackets.
const richer = `{"amount": 120, "currency": "EUR", "card": {"last4": "4242", "tags": ["gold", "eu"]}, "flag": true, "none": null,
	"items": [{"sku": "a"}, {"sku": "b"}], "dup": 1, "quote\"d": "a}b", "esc": "\u00e9\n", "neg": -2e0,
	"deep": {"s": "[{", "list": [{"x": "]"}, {"x": "yes"}]}, "dup": 2}`

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{`{}`, true},
		{`{"type": "card.created"}`, true},
		{`{"type": "card.updated"}`, false},
		{`{"type": {"$prefix": "card."}}`, true},
		{`{"type": {"$prefix": "policy."}}`, false},
		{`{"data.amount": 120}`, true},
		{`{"data.amount": "120"}`, false},
		{`{"data.amount": {"$gt": 100}}`, true},
		{`{"data.amount": {"$gt": 120}}`, false},
		{`{"data.amount": {"$gte": 120, "$lte": 120}}`, true},
		{`{"data.amount": {"$lt": 120}}`, false},
		{`{"data.amount": {"$gt": "100"}}`, false},
		{`{"data.currency": {"$gt": "EUA"}}`, true},
		{`{"data.currency": {"$lt": "EUA"}}`, false},
		{`{"data.currency": {"$in": ["USD", "EUR"]}}`, true},
		{`{"data.currency": {"$nin": ["USD", "EUR"]}}`, false},
		{`{"data.currency": {"$nin": ["USD"]}}`, true},
		{`{"data.card.last4": "4242"}`, true},
		{`{"data.card.tags.0": "gold"}`, true},
		{`{"data.items.1.sku": "b"}`, true},
		{`{"data.items.2.sku": {"$exists": false}}`, true},
		{`{"data.flag": true}`, true},
		{`{"data.flag": {"$neq": false}}`, true},
		{`{"data.none": null}`, true},
		{`{"data.none": {"$exists": true}}`, true},
		{`{"data.card": {"$eq": "x"}}`, false},
		{`{"data.card": {"$neq": "x"}}`, true},
		// A missing path fails every operator except $exists false, $neq and $nin.
		{`{"data.missing": {"$exists": false}}`, true},
		{`{"data.missing": {"$exists": true}}`, false},
		{`{"data.missing": {"$neq": 1}}`, true},
		{`{"data.missing": {"$nin": [1]}}`, true},
		{`{"data.missing": {"$in": [1]}}`, false},
		{`{"data.missing": {"$eq": null}}`, false},
		{`{"data.missing": {"$gt": 0}}`, false},
		{`{"data.missing": {"$prefix": ""}}`, false},
		{`{"requestId": {"$exists": false}}`, true},
		{`{"timestamp": {"$gte": "2026-01-01T00:00:00Z"}}`, true},
		{`{"tenantLocator": "9a0c5b7e-3a7a-4c64-9f64-0e7a9b4f1c11"}`, true},
		{`{"$or": [{"data.amount": {"$lt": 10}}, {"data.currency": "EUR"}]}`, true},
		{`{"$or": [{"data.amount": {"$lt": 10}}, {"data.currency": "USD"}]}`, false},
		{`{"$and": [{"data.amount": {"$gt": 10}}, {"data.currency": "EUR"}], "type": "card.created"}`, true},
		{`{"$and": [{"data.amount": {"$gt": 10}}, {"$or": [{"data.flag": false}, {"data.card.last4": "4242"}]}]}`, true},
		{`{"data.amount": {"$gt": 100}, "data.currency": "USD"}`, false},
		{`{"data": {"$exists": true}}`, true},
		{`{"data": {"$eq": 1}}`, false},
		{`{"data.dup": 2}`, true},
		{`{"data.dup": 1}`, false},
		{`{"data.quote\"d": "a}b"}`, true},
		{`{"data.esc": "é\n"}`, true},
		{`{"data.neg": {"$lt": -1.5}}`, true},
		{`{"data.deep.list.1.x": {"$prefix": "y"}}`, true},
		{`{"data.deep.list.2": {"$exists": false}}`, true},
		{`{"data.deep.list.-1": {"$exists": false}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := filter.Parse([]byte(tt.filter))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := f.Match(event(richer)); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNilFilterMatches(t *testing.T) {
	var f *filter.Filter
	if !f.Match(event(`{}`)) {
		t.Error("a nil filter must match")
	}
}

func nested(depth int) string {
	s := `{"type": "a"}`
	for range depth - 1 {
		s = `{"$or": [` + s + `]}`
	}
	return s
}

func conditions(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"data.f%d": %d`, i, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		filter string
		field  string // the path at fault within the filter
	}{
		{``, ""},
		{`[]`, ""},
		{`"x"`, ""},
		{`null`, ""},
		{`{} {}`, ""},
		{`{"nope": 1}`, "nope"},
		{`{"data..x": 1}`, "data..x"},
		{`{"type.x": 1}`, "type.x"},
		{`{"$not": {}}`, "$not"},
		{`{"data.a": {}}`, "data.a"},
		{`{"data.a": {"$regex": "x"}}`, "data.a.$regex"},
		{`{"data.a": {"b": 1}}`, "data.a.b"},
		{`{"data.a": [1]}`, "data.a"},
		{`{"data.a": {"$in": 1}}`, "data.a.$in"},
		{`{"data.a": {"$in": [{}]}}`, "data.a.$in[0]"},
		{`{"data.a": {"$exists": 1}}`, "data.a.$exists"},
		{`{"data.a": {"$prefix": 1}}`, "data.a.$prefix"},
		{`{"data.a": {"$gt": true}}`, "data.a.$gt"},
		{`{"data.a": {"$gt": null}}`, "data.a.$gt"},
		{`{"data.a": {"$eq": {}}}`, "data.a.$eq"},
		{`{"data.a": 1e999}`, "data.a"},
		{`{"$and": []}`, "$and"},
		{`{"$or": {}}`, "$or"},
		{`{"$or": [1]}`, "$or[0]"},
		{`{"$or": [{"x": 1}]}`, "$or[0].x"},
		{nested(5), "$or[0].$or[0].$or[0].$or[0]"},
		{conditions(33), "data.f9"},
		{`{"data.a": {"$in": [` + strings.Repeat(`1,`, 100) + `1]}}`, "data.a.$in"},
		{`{"data.a": "` + strings.Repeat("x", filter.MaxBytes) + `"}`, ""},
	}
	for _, tt := range tests {
		name := tt.filter
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			_, err := filter.Parse([]byte(tt.filter))
			var fe *filter.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%s) = %v, want a *filter.Error", tt.filter, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	for _, f := range []string{nested(filter.MaxDepth), conditions(filter.MaxConditions)} {
		if _, err := filter.Parse([]byte(f)); err != nil {
			t.Errorf("Parse(%s): %v", f, err)
		}
	}
}

// The data is indexed once per event, however many filters read it.
func TestDataDecodedOnce(t *testing.T) {
	f, err := filter.Parse([]byte(`{"data.amount": {"$gt": 100}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := event(sample)
	if !f.Match(e) {
		t.Fatal("want a match")
	}
	e.Data = json.RawMessage(`{"amount": 1}`) // not indexed again: the first index stands
	if !f.Match(e) {
		t.Error("the data was indexed a second time")
	}
}

// BenchmarkMatch3 is the cost per event of a 3-condition filter, reading of the event's data included.
func BenchmarkMatch3(b *testing.B) {
	f, err := filter.Parse([]byte(`{"type": {"$prefix": "card."}, "data.amount": {"$gte": 100}, "data.currency": {"$in": ["EUR", "USD"]}}`))
	if err != nil {
		b.Fatal(err)
	}
	data := json.RawMessage(`{"amount": 120, "currency": "EUR", "card": {"last4": "4242"}}`)
	b.ReportAllocs()
	for b.Loop() {
		e := filter.Event{Type: "card.created", Data: data}
		if !f.Match(&e) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatch3Indexed is the same filter on an event whose data another filter has indexed already.
func BenchmarkMatch3Indexed(b *testing.B) {
	f, err := filter.Parse([]byte(`{"type": {"$prefix": "card."}, "data.amount": {"$gte": 100}, "data.currency": {"$in": ["EUR", "USD"]}}`))
	if err != nil {
		b.Fatal(err)
	}
	e := filter.Event{Type: "card.created", Data: json.RawMessage(`{"amount": 120, "currency": "EUR", "card": {"last4": "4242"}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match(&e) {
			b.Fatal("no match")
		}
	}
}
