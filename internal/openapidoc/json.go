package openapidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// obj is a JSON object that keeps its keys in the order written, so that the document reads top-down as an
// OpenAPI document is meant to (openapi, info, paths, components) and diffs stay small.
type obj []member

type member struct {
	key   string
	value any
}

// o builds an obj from alternating keys and values.
func o(kv ...any) obj {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("openapidoc: odd number of arguments to o: %v", kv))
	}
	out := make(obj, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, member{key: kv[i].(string), value: kv[i+1]})
	}
	return out
}

// with returns a copy of m with the members of kv added, replacing members of the same key in place.
func (m obj) with(kv ...any) obj {
	out := append(obj(nil), m...)
	for _, add := range o(kv...) {
		replaced := false
		for i := range out {
			if out[i].key == add.key {
				out[i].value, replaced = add.value, true
			}
		}
		if !replaced {
			out = append(out, add)
		}
	}
	return out
}

// MarshalJSON writes the members in order, without escaping <, > and & (the document is not HTML).
func (m obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, kv := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, err := marshal(kv.key)
		if err != nil {
			return nil, err
		}
		buf.Write(key)
		buf.WriteByte(':')
		value, err := marshal(kv.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.key, err)
		}
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
