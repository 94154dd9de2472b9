package filter

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Event is what a filter looks at: the fields of the delivered event. Its data is decoded on the first
// condition that reads it and then shared by every filter evaluated on the same Event, so an event routed to
// many webhooks is decoded once. An Event is not safe for concurrent use.
type Event struct {
	Locator       string
	Type          string
	TenantLocator string
	Timestamp     time.Time
	RequestID     string
	Data          json.RawMessage

	data    any
	decoded bool
}

// Match reports whether the event satisfies the filter. A nil filter matches every event.
func (f *Filter) Match(e *Event) bool {
	if f == nil {
		return true
	}
	if f.needsData {
		e.decode()
	}
	return f.root.match(e)
}

func (e *Event) decode() {
	if e.decoded {
		return
	}
	e.decoded = true
	// Data that does not decode (never the case for a stored event) is treated as an empty object.
	if json.Unmarshal(e.Data, &e.data) != nil {
		e.data = map[string]any{}
	}
}

// lookup returns the value at path and whether it is there.
func (e *Event) lookup(path []string) (any, bool) {
	switch path[0] {
	case "locator":
		return e.Locator, true
	case "type":
		return e.Type, true
	case "tenantLocator":
		return e.TenantLocator, true
	case "timestamp":
		// As the delivered event spells it, so string comparisons see what the receiver sees.
		return e.Timestamp.UTC().Format(time.RFC3339Nano), true
	case "requestId":
		return e.RequestID, e.RequestID != ""
	}
	v := e.data
	for _, seg := range path[1:] {
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

func (n *node) match(e *Event) bool {
	for i := range n.conds {
		if !n.conds[i].match(e) {
			return false
		}
	}
	for _, group := range n.and {
		for i := range group {
			if !group[i].match(e) {
				return false
			}
		}
	}
	for _, group := range n.or {
		any := false
		for i := range group {
			if group[i].match(e) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return true
}

// match applies the condition. A missing path fails every operator except $exists false, $neq and $nin; a
// value of another type than the operand fails $eq, $in and the ordering operators, and satisfies $neq and
// $nin (it is not equal).
func (c *cond) match(e *Event) bool {
	v, ok := e.lookup(c.path)
	switch c.op {
	case opExists:
		return ok == c.arg.(bool)
	case opNeq:
		return !ok || !equal(v, c.arg)
	case opNin:
		return !ok || !contains(c.list, v)
	}
	if !ok {
		return false
	}
	switch c.op {
	case opEq:
		return equal(v, c.arg)
	case opIn:
		return contains(c.list, v)
	case opPrefix:
		s, isString := v.(string)
		return isString && strings.HasPrefix(s, c.arg.(string))
	}
	cmp, comparable := compare(v, c.arg)
	if !comparable {
		return false
	}
	switch c.op {
	case opGt:
		return cmp > 0
	case opGte:
		return cmp >= 0
	case opLt:
		return cmp < 0
	default:
		return cmp <= 0
	}
}

// equal compares a value from the event with a literal. Objects and arrays equal no literal.
func equal(v, lit any) bool {
	switch x := v.(type) {
	case nil:
		return lit == nil
	case bool:
		y, ok := lit.(bool)
		return ok && x == y
	case float64:
		y, ok := lit.(float64)
		return ok && x == y
	case string:
		y, ok := lit.(string)
		return ok && x == y
	}
	return false
}

func contains(list []any, v any) bool {
	for _, lit := range list {
		if equal(v, lit) {
			return true
		}
	}
	return false
}

// compare orders two numbers, or two strings by code point; comparable is false for any other pair.
func compare(v, lit any) (cmp int, comparable bool) {
	switch x := v.(type) {
	case float64:
		y, ok := lit.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := lit.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	}
	return 0, false
}
