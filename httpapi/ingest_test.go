package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hookstream/hookstream"
)

var ingestSeeds = []string{
	`{"type":"policy.issue","data":{"n":1}}`,
	` { "type" : "a.b" , "data" : { "x" : [1, {"y": "}"}], "z": "\"]" } , "requestId" : "r-1" } `,
	`{"data":{},"type":"a"}`,
	`{"type":"a","data":{},"type":"b"}`,
	`{"type":"a","data":{},"Type":"b"}`,
	`{"TYPE":"a","data":{}}`,
	`{"type":"a\u0062","data":{}}`,
	`{"type":"é","data":{}}`,
	`{"type":"a","data":null}`,
	`{"type":"a","data":[1]}`,
	`{"type":"a","data":"x"}`,
	`{"type":1,"data":{}}`,
	`{"type":null,"data":{}}`,
	`{"type":"a","data":{},"extra":1}`,
	`{"type":"a","data":{}} {}`,
	`{"type":"a","data":{}`,
	`{}`,
	`[]`,
	`null`,
	`"x"`,
	``,
	`{"requestId":"","data":{"a":{"b":{"c":[]}}},"type":"x.y"}`,
}

// The one-pass reading of an ingest body must answer exactly as the strict decoder: the same request, or the
// same error.
func TestDecodeIngestMatchesStrictDecoding(t *testing.T) {
	for _, s := range ingestSeeds {
		checkIngestDecoding(t, []byte(s))
	}
}

func FuzzDecodeIngest(f *testing.F) {
	for _, s := range ingestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkIngestDecoding(t, body) })
}

func checkIngestDecoding(t *testing.T, body []byte) {
	t.Helper()
	var fast, strict eventRequest
	errFast := decodeIngest(body, &fast, false)
	errStrict := decodeJSON(body, &strict)
	if fmt.Sprint(errFast) != fmt.Sprint(errStrict) {
		t.Fatalf("%q: one pass says %v, the strict decoder %v", body, errFast, errStrict)
	}
	if errStrict == nil && !reflect.DeepEqual(fast, strict) {
		t.Fatalf("%q: one pass read %+v, the strict decoder %+v", body, fast, strict)
	}
}

func TestDecodeBatch(t *testing.T) {
	one := `{"type":"a","data":{"s":"]}"}}`
	for _, tc := range []struct {
		body  string
		n     int
		field string
	}{
		{`{"events":[` + one + `]}`, 1, ""},
		{` { "events" : [ ` + one + ` , 5 , "x" , [1,2] , {} ] } `, 5, ""},
		{`{"events":[]}`, 0, "events"},
		{`{"events":null}`, 0, "events"},
		{`{}`, 0, "events"},
		{`{"events":{}}`, 0, "events"},
		{`{"events":[1],"more":2}`, 0, "more"},
		{`{"events":[` + strings.Repeat(one+",", MaxBatchEvents) + one + `]}`, 0, "events"},
		{`{"events":[` + strings.Repeat(one+",", MaxBatchEvents-1) + one + `]}`, MaxBatchEvents, ""},
		{`{"events":[1}`, 0, "body"},
	} {
		elems, err := decodeBatch([]byte(tc.body))
		name := tc.body[:min(len(tc.body), 60)]
		if tc.field != "" {
			if err == nil || fieldOf(err) != tc.field {
				t.Errorf("%s: error %v, want one naming %q", name, err, tc.field)
			}
			continue
		}
		if err != nil || len(elems) != tc.n {
			t.Errorf("%s: %d events, %v; want %d", name, len(elems), err, tc.n)
			continue
		}
		var strict batchRequest
		if err := decodeJSON([]byte(tc.body), &strict); err != nil || !reflect.DeepEqual(trimAll(strict.Events), trimAll(elems)) {
			t.Errorf("%s: split as %q, the strict decoder %q (%v)", name, elems, strict.Events, err)
		}
	}
}

// TestDecodeBatchRefusesAHugeCountCheaply sends millions of one-byte events, on the one-pass path and on the
// strict one: each is refused by its count, having read barely more than the events allowed.
func TestDecodeBatchRefusesAHugeCountCheaply(t *testing.T) {
	many := strings.Repeat("1,", 2_000_000) + "1"
	for _, body := range []string{`{"events":[` + many + `]}`, `{"x":1,"events":[` + many + `]}`, `{"Events":[` + many + `]}`} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := decodeBatch([]byte(body))
		runtime.ReadMemStats(&after)
		if fieldOf(err) != "events" {
			t.Errorf("%.20s…: error %v, want one naming events", body, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Errorf("%.20s…: %d MB allocated to refuse it", body, alloc>>20)
		}
	}
}

func trimAll(in []json.RawMessage) []string {
	out := make([]string, len(in))
	for i, m := range in {
		out[i] = strings.TrimSpace(string(m))
	}
	return out
}

func fieldOf(err error) string {
	var de *hookstream.Error
	if errors.As(err, &de) {
		return de.Field
	}
	return ""
}

// BenchmarkDecodeIngest measures the one-pass reading of the body BenchmarkDecodeEvent decodes strictly.
func BenchmarkDecodeIngest(b *testing.B) {
	body := []byte(fmt.Sprintf(`{"type":"policy.issue","data":{"policy":"P-1","note":%q}}`, strings.Repeat("x", 480)))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req eventRequest
		if err := decodeIngest(body, &req, false); err != nil {
			b.Fatal(err)
		}
	}
}
