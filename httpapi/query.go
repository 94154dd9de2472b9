package httpapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream"
)

// queryInt reads an integer query parameter within [lo, hi], or def when absent. Out-of-range values are an
// error, never clamped.
func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s, ok := single(q, name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, hookstream.Invalid(name, "must be an integer from %d to %d", lo, hi)
	}
	return n, nil
}

// queryBool reads "true" or "false"; nil when absent.
func queryBool(q url.Values, name string) (*bool, error) {
	s, ok := single(q, name)
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil || (s != "true" && s != "false") {
		return nil, hookstream.Invalid(name, "must be true or false")
	}
	return &b, nil
}

// queryList reads a list given as repeated keys, comma-separated values, or both.
func queryList(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// queryEventTypes reads a list of event types, each validated.
func queryEventTypes(q url.Values, name string) ([]string, error) {
	types := queryList(q, name)
	for i, t := range types {
		if err := hookstream.CheckEventType(fmt.Sprintf("%s[%d]", name, i), t); err != nil {
			return nil, err
		}
	}
	return types, nil
}

func single(q url.Values, name string) (string, bool) {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// queryTime reads an RFC 3339 timestamp; zero when absent.
func queryTime(q url.Values, name string) (time.Time, error) {
	s, ok := single(q, name)
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, hookstream.Invalid(name, "must be an RFC 3339 timestamp")
	}
	return t, nil
}
