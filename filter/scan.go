package filter

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The event's data is read in place: one pass indexes its top-level members, and a path below them scans
// only the member's own bytes. Values are turned into Go values only where a condition reads them. Data
// is valid JSON (ingest refuses anything else); malformed bytes read as missing values, never a panic.

// member is one member of a JSON object: its key as written between the quotes, and its value's bytes.
type member struct {
	key, val []byte
}

// composite stands for an object or an array in the data: it is there, but equals no literal.
type composite struct{}

// members calls fn for each member of the object at the start of b, in order, until fn returns false.
func members(b []byte, fn func(m member) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		end, ok := skipString(b, i)
		if !ok {
			return
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			return
		}
		if !fn(member{key: key, val: b[i:vend]}) {
			return
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipSpace(b, i+1)
	}
}

// field returns the value of the last member of the object b named name (the last, as encoding/json does).
func field(b []byte, name string) ([]byte, bool) {
	var val []byte
	found := false
	members(b, func(m member) bool {
		if keyIs(m.key, name) {
			val, found = m.val, true
		}
		return true
	})
	return val, found
}

// element returns the n-th value of the array b.
func element(b []byte, n int) ([]byte, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	for k := 0; i < len(b) && b[i] != ']'; k++ {
		end, ok := skipValue(b, i)
		if !ok {
			return nil, false
		}
		if k == n {
			return b[i:end], true
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	return nil, false
}

// keyIs compares a key as written with name; a key with escapes is decoded first.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	var s string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	return json.Unmarshal(quoted, &s) == nil && s == name
}

// value turns a JSON value's bytes into what conditions compare: nil, bool, float64, string or composite.
func value(v []byte) (any, bool) {
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '{', '[':
		return composite{}, true
	case '"':
		if bytes.IndexByte(v, '\\') < 0 {
			return string(v[1 : len(v)-1]), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		return s, true
	case 't':
		return true, string(v) == "true"
	case 'f':
		return false, string(v) == "false"
	case 'n':
		return nil, string(v) == "null"
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the string that starts at b[i] (a quote).
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just after the value that starts at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	start := i
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) {
		i++
	}
	return i, i > start
}
