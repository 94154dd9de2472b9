package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// fieldProblem walks a JSON document alongside the Go type it decodes into and reports the first field that
// is unknown (names are matched exactly, unlike encoding/json's case-insensitive matching) or whose value
// does not decode, with its full path ("failureHandling.retryStrategy.attempts", "eventTypes[2]").
// encoding/json names neither the path of an unknown field nor the field of a value its UnmarshalJSON
// method refused.
func fieldProblem(data []byte, t reflect.Type, path string, allowUnknown bool) (field, problem string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return "", ""
	}
	switch {
	case t.Kind() == reflect.Struct && t.PkgPath() != "time" && !reflect.PointerTo(t).Implements(unmarshalerType):
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return orBody(path), "must be an object"
		}
		fields := jsonFields(t)
		for _, name := range sortedKeys(obj) {
			f, ok := fields[name]
			if !ok {
				if allowUnknown && !nearMiss(fields, name) {
					continue
				}
				return join(path, name), "unknown field (field names are case-sensitive)"
			}
			if field, problem := fieldProblem(obj[name], f.Type, join(path, name), allowUnknown); field != "" {
				return field, problem
			}
		}
		return "", ""
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return orBody(path), "must be an array"
		}
		for i, item := range items {
			if field, problem := fieldProblem(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), allowUnknown); field != "" {
				return field, problem
			}
		}
		return "", ""
	case t.Kind() == reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return orBody(path), "must be an object"
		}
		for _, k := range sortedKeys(obj) {
			if field, problem := fieldProblem(obj[k], t.Elem(), join(path, k), allowUnknown); field != "" {
				return field, problem
			}
		}
		return "", ""
	case t == reflect.TypeFor[json.RawMessage]() || (t.Kind() == reflect.Interface && t.NumMethod() == 0):
		return "", "" // any valid JSON decodes into these, and the document is valid: no need to decode it again
	default:
		if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
			return orBody(path), "must be " + typeName(t.String())
		}
		return "", ""
	}
}

// unmarshalerType is the interface of types that decode themselves: their value is checked by decoding it.
var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// nearMiss reports whether name differs from a known field only in case: encoding/json would fill that
// field from it, so even a lenient decoder must refuse it.
func nearMiss(fields map[string]reflect.StructField, name string) bool {
	for known := range fields {
		if strings.EqualFold(known, name) {
			return true
		}
	}
	return false
}

// jsonFields maps the JSON names of a struct's fields to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted, so the same body always names the same field.
	slices.Sort(keys)
	return keys
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
