package filter

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Event is what a filter looks at: the fields of the delivered event. Its data is read in place: the first
// condition that reads it indexes its top-level members in one pass, shared by every filter evaluated on the
// same Event, so an event routed to many webhooks is read once; nothing is decoded that no condition reads.
// An Event is not safe for concurrent use.
type Event struct {
	Locator       string
	Type          string
	TenantLocator string
	Timestamp     time.Time
	RequestID     string
	Data          json.RawMessage

	top     []member // the data's top-level members, indexed on first use
	topBuf  [8]member
	indexed bool
}

// Match reports whether the event satisfies the filter. A nil filter matches every event.
func (f *Filter) Match(e *Event) bool {
	if f == nil {
		return true
	}
	if f.needsData {
		e.index()
	}
	return f.root.match(e)
}

// index indexes the data's top-level members, once.
func (e *Event) index() {
	if e.indexed {
		return
	}
	e.indexed = true
	e.top = e.topBuf[:0] // most events have few members: no allocation for them
	members(e.Data, func(m member) bool {
		e.top = append(e.top, m)
		return true
	})
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
	if len(path) == 1 {
		return composite{}, true // the data itself: always an object
	}
	var raw []byte
	found := false
	for _, m := range e.top { // the last member of a name counts, as encoding/json has it
		if keyIs(m.key, path[1]) {
			raw, found = m.val, true
		}
	}
	if !found {
		return nil, false
	}
	for _, seg := range path[2:] {
		switch raw[0] {
		case '{':
			if raw, found = field(raw, seg); !found {
				return nil, false
			}
		case '[':
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 {
				return nil, false
			}
			if raw, found = element(raw, i); !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return value(raw)
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
