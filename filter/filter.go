// Package filter parses and evaluates payload filters: conditions on an event that decide whether a webhook
// receives it. A filter is a JSON object whose keys are dotted paths into the delivered event ("type",
// "data.amount") and whose values are a literal (equality) or an operator object; "$and" and "$or" take arrays
// of such objects. Parse validates once; Match evaluates many times, reading the event's data in place.
package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Limits on a filter, so that evaluating one stays cheap whatever a webhook's owner writes.
const (
	// MaxConditions bounds the operator conditions in a whole filter.
	MaxConditions = 32
	// MaxDepth bounds the nesting of filter objects: the top object is at depth 1, each object in a "$and"
	// or "$or" one deeper than the object holding it.
	MaxDepth = 4
	// MaxBytes bounds a filter's JSON text.
	MaxBytes = 16 << 10
	// MaxListValues bounds the literals of one "$in" or "$nin".
	MaxListValues = 100
	// MaxPathSegments bounds the segments of one path.
	MaxPathSegments = 16
)

// Roots are the fields of the delivered event a path may start with.
var roots = map[string]bool{"locator": true, "type": true, "tenantLocator": true, "timestamp": true, "requestId": true, "data": true}

// Error is a malformed filter: Field is the path at fault within the filter ("data.amount.$gt", "$or[1]";
// empty for the filter as a whole).
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "filter: " + e.Message
	}
	return "filter." + e.Field + ": " + e.Message
}

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Filter is a parsed filter, safe for concurrent use.
type Filter struct {
	root node
	// needsData is set when some path reads into data: an event's data is read only then.
	needsData bool
}

// op is a comparison operator.
type op uint8

const (
	opEq op = iota
	opNeq
	opGt
	opGte
	opLt
	opLte
	opIn
	opNin
	opExists
	opPrefix
)

var ops = map[string]op{"$eq": opEq, "$neq": opNeq, "$gt": opGt, "$gte": opGte, "$lt": opLt, "$lte": opLte,
	"$in": opIn, "$nin": opNin, "$exists": opExists, "$prefix": opPrefix}

// node is a conjunction of conditions and of "$and"/"$or" groups.
type node struct {
	conds []cond
	and   [][]node // each "$and" key: every node holds
	or    [][]node // each "$or" key: at least one node holds
}

// cond is one operator applied to the value at a path.
type cond struct {
	path []string
	op   op
	arg  any   // a literal: nil, bool, float64 or string
	list []any // the literals of $in and $nin
}

// Parse validates a filter's JSON text and returns it ready to evaluate.
func Parse(raw []byte) (*Filter, error) {
	if len(raw) > MaxBytes {
		return nil, errorf("", "must be at most %d bytes of JSON", MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf("", "must be a JSON object")
	}
	if dec.More() {
		return nil, errorf("", "unexpected data after the JSON object")
	}
	p := parser{}
	root, err := p.object(v, "", 1)
	if err != nil {
		return nil, err
	}
	return &Filter{root: root, needsData: p.needsData}, nil
}

type parser struct {
	conditions int
	needsData  bool
}

func (p *parser) object(v any, at string, depth int) (node, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return node{}, errorf(at, "must be an object of conditions")
	}
	if depth > MaxDepth {
		return node{}, errorf(at, "nests deeper than %d levels", MaxDepth)
	}
	var n node
	for _, key := range sortedKeys(obj) {
		val := obj[key]
		field := join(at, key)
		switch {
		case key == "$and" || key == "$or":
			items, ok := val.([]any)
			if !ok || len(items) == 0 {
				return node{}, errorf(field, "must be a non-empty array of filter objects")
			}
			group := make([]node, 0, len(items))
			for i, item := range items {
				child, err := p.object(item, fmt.Sprintf("%s[%d]", field, i), depth+1)
				if err != nil {
					return node{}, err
				}
				group = append(group, child)
			}
			if key == "$and" {
				n.and = append(n.and, group)
			} else {
				n.or = append(n.or, group)
			}
		case strings.HasPrefix(key, "$"):
			return node{}, errorf(field, "is not a path, $and or $or")
		default:
			path, err := parsePath(key, field)
			if err != nil {
				return node{}, err
			}
			conds, err := p.conditionsAt(path, val, field)
			if err != nil {
				return node{}, err
			}
			n.conds = append(n.conds, conds...)
		}
	}
	return n, nil
}

func parsePath(key, field string) ([]string, error) {
	path := strings.Split(key, ".")
	if len(path) > MaxPathSegments {
		return nil, errorf(field, "has more than %d segments", MaxPathSegments)
	}
	for _, s := range path {
		if s == "" {
			return nil, errorf(field, "has an empty segment")
		}
	}
	if !roots[path[0]] {
		return nil, errorf(field, "must start with locator, type, tenantLocator, timestamp, requestId or data")
	}
	if path[0] != "data" && len(path) > 1 {
		return nil, errorf(field, "only data has fields below it")
	}
	return path, nil
}

// conditionsAt parses the value of a path key: a literal, or an object of operators.
func (p *parser) conditionsAt(path []string, val any, field string) ([]cond, error) {
	if path[0] == "data" {
		p.needsData = true
	}
	obj, isObj := val.(map[string]any)
	if !isObj {
		arg, err := literal(val, field)
		if err != nil {
			return nil, err
		}
		return []cond{p.count(cond{path: path, op: opEq, arg: arg})}, p.check(field)
	}
	if len(obj) == 0 {
		return nil, errorf(field, "must name at least one operator")
	}
	conds := make([]cond, 0, len(obj))
	for _, name := range sortedKeys(obj) {
		f := join(field, name)
		o, ok := ops[name]
		if !ok {
			return nil, errorf(f, "is not an operator: use $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $exists or $prefix (a dotted path names nested fields)")
		}
		c := cond{path: path, op: o}
		arg := obj[name]
		switch o {
		case opIn, opNin:
			items, ok := arg.([]any)
			if !ok {
				return nil, errorf(f, "must be an array of literals")
			}
			if len(items) > MaxListValues {
				return nil, errorf(f, "must list at most %d values", MaxListValues)
			}
			c.list = make([]any, 0, len(items))
			for i, it := range items {
				lit, err := literal(it, fmt.Sprintf("%s[%d]", f, i))
				if err != nil {
					return nil, err
				}
				c.list = append(c.list, lit)
			}
		case opExists:
			b, ok := arg.(bool)
			if !ok {
				return nil, errorf(f, "must be true or false")
			}
			c.arg = b
		case opPrefix:
			s, ok := arg.(string)
			if !ok {
				return nil, errorf(f, "must be a string")
			}
			c.arg = s
		case opGt, opGte, opLt, opLte:
			lit, err := literal(arg, f)
			if err != nil {
				return nil, err
			}
			switch lit.(type) {
			case float64, string:
			default:
				return nil, errorf(f, "must be a number or a string")
			}
			c.arg = lit
		default:
			lit, err := literal(arg, f)
			if err != nil {
				return nil, err
			}
			c.arg = lit
		}
		conds = append(conds, p.count(c))
		if err := p.check(f); err != nil {
			return nil, err
		}
	}
	return conds, nil
}

func (p *parser) count(c cond) cond {
	p.conditions++
	return c
}

func (p *parser) check(field string) error {
	if p.conditions > MaxConditions {
		return errorf(field, "the filter has more than %d conditions", MaxConditions)
	}
	return nil
}

// literal turns a decoded JSON scalar into a comparable value: nil, bool, float64 or string.
func literal(v any, field string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, errorf(field, "is a number out of range")
		}
		return f, nil
	}
	return nil, errorf(field, "must be a string, number, boolean or null")
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted, so the same filter always names the same field at fault.
	slices.Sort(keys)
	return keys
}
