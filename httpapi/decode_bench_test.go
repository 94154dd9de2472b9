package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeEvent measures the strict decoding of a POST /events body with 512 bytes of data: the
// decoder, then the walk that refuses case-insensitive field names.
func BenchmarkDecodeEvent(b *testing.B) {
	body := []byte(fmt.Sprintf(`{"type":"policy.issue","data":{"policy":"P-1","note":%q}}`, strings.Repeat("x", 480)))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req eventRequest
		if err := decodeJSON(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
