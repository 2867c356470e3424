package registry

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Unknown is the members of a stored JSON object that this omni does not
// know: written by a newer omni (as `drained` and `config` once were
// new). They are kept as they are across a read-modify-write (Update),
// in both stores, so that an older omni's write never erases what a
// newer one recorded.
type Unknown map[string]json.RawMessage

// decodeKeeping decodes the JSON object b into v (a struct without
// methods of its own) and returns its members that v's fields do not
// take. Like encoding/json, it matches names without regard to case.
func decodeKeeping(b []byte, v any) (Unknown, error) {
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	var u Unknown
	for k, raw := range all {
		if !known[strings.ToLower(k)] {
			if u == nil {
				u = Unknown{}
			}
			u[k] = raw
		}
	}
	return u, nil
}

// encodeKeeping encodes v (a struct without methods of its own) and
// appends the members of u after its own, in the order of their names.
func encodeKeeping(v any, u Unknown) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(u) == 0 {
		return b, err
	}
	known := jsonNames(reflect.TypeOf(v))
	out := bytes.TrimSuffix(b, []byte("}"))
	first := bytes.Equal(out, []byte("{"))
	for _, k := range slices.Sorted(maps.Keys(u)) {
		if known[strings.ToLower(k)] {
			continue
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(append(append(out, name...), ':'), u[k]...)
	}
	return append(out, '}'), nil
}

var jsonNamesOf sync.Map // reflect.Type → map[string]bool

// jsonNames is the JSON member names (lower case) of struct type t's
// fields.
func jsonNames(t reflect.Type) map[string]bool {
	if m, ok := jsonNamesOf.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[strings.ToLower(name)] = true
	}
	jsonNamesOf.Store(t, m)
	return m
}
