package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// The kinds of variant values a flagd flag may have; all variants of one flag
// share a kind.
const (
	kindBoolean = "boolean"
	kindString  = "string"
	kindNumber  = "number"
	kindObject  = "object"
)

// documentRoot names the whole document in error messages.
const documentRoot = "the document"

// maxFlagsFile caps what readFlagsFile reads; a flags file is a few KiB.
const maxFlagsFile = 1 << 20

// readFlagsFile reads and parses the flagd-format flags file at path. Only
// a regular file of at most maxFlagsFile bytes is read: a device such as
// /dev/zero would exhaust memory, and a FIFO would block startup (it is
// opened without blocking, then refused).
func readFlagsFile(path string) (map[string]memprovider.InMemoryFlag, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		// The *os.PathError names the file.
		return nil, fmt.Errorf("flags: read flags file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("flags: read flags file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("flags: flags file %q: not a regular file (%s)", path, info.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFlagsFile+1))
	if err != nil {
		return nil, fmt.Errorf("flags: read flags file: %w", err)
	}
	if len(data) > maxFlagsFile {
		return nil, fmt.Errorf("flags: flags file %q: larger than %d bytes", path, maxFlagsFile)
	}
	return parseFlagsFile(path, data)
}

// parseFlagsFile parses the flagd JSON document data, read from the file
// name, into the flags of an in-memory provider. The supported subset is:
//
//	{"$schema": "...", "metadata": {...},
//	 "flags": {"<key>": {"state": "ENABLED"|"DISABLED",
//	                     "variants": {"<name>": <value>, ...},
//	                     "defaultVariant": "<name>",
//	                     "metadata": {...}}}}
//
// Every other construct is an error naming the file and, where there is one,
// the flag. Metadata (string, number and boolean values) is checked and then
// dropped: the in-memory provider has no place for it.
func parseFlagsFile(name string, data []byte) (map[string]memprovider.InMemoryFlag, error) {
	parsed, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("flags: flags file %q: %w", name, err)
	}
	return parsed, nil
}

// parseDocument does the work of parseFlagsFile; its errors do not name the
// file.
func parseDocument(data []byte) (map[string]memprovider.InMemoryFlag, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if syntaxErr, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("invalid JSON at byte %d: %w", syntaxErr.Offset, err)
		}
		return nil, errors.New("the document must be a JSON object")
	}
	if top == nil {
		return nil, errors.New("the document must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers as text: a huge one is reported per flag below
	if err := checkDuplicateKeys(dec, documentRoot); err != nil {
		return nil, err
	}

	var rawFlags json.RawMessage
	for _, key := range slices.Sorted(maps.Keys(top)) {
		raw := top[key]
		switch key {
		case "flags":
			rawFlags = raw
		case "$schema":
			if _, err := jsonString(raw); err != nil {
				return nil, fmt.Errorf(`"$schema": %w`, err)
			}
		case "metadata":
			if err := checkMetadata(raw); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
		case "$evaluators":
			return nil, errors.New(`shared targeting rules ("$evaluators") are not supported`)
		default:
			return nil, fmt.Errorf("unknown top-level key %q", key)
		}
	}
	if rawFlags == nil {
		return nil, errors.New(`"flags" is missing`)
	}
	definitions, err := jsonObject(rawFlags)
	if err != nil {
		return nil, fmt.Errorf(`"flags": %w`, err)
	}

	out := make(map[string]memprovider.InMemoryFlag, len(definitions))
	for _, key := range slices.Sorted(maps.Keys(definitions)) {
		if key == "" {
			return nil, errors.New("a flag key is empty")
		}
		flag, err := parseFlag(key, definitions[key])
		if err != nil {
			return nil, fmt.Errorf("flag %q: %w", key, err)
		}
		out[key] = flag
	}
	return out, nil
}

// parseFlag parses one flag definition.
func parseFlag(key string, raw json.RawMessage) (memprovider.InMemoryFlag, error) {
	fields, err := jsonObject(raw)
	if err != nil {
		return memprovider.InMemoryFlag{}, err
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		switch name {
		case "state", "variants", "defaultVariant":
		case "metadata":
			if err := checkMetadata(fields[name]); err != nil {
				return memprovider.InMemoryFlag{}, fmt.Errorf("metadata: %w", err)
			}
		case "targeting":
			return memprovider.InMemoryFlag{}, errors.New("targeting rules are not supported")
		default:
			return memprovider.InMemoryFlag{}, fmt.Errorf("unknown key %q", name)
		}
	}

	state, err := requiredString(fields, "state")
	if err != nil {
		return memprovider.InMemoryFlag{}, err
	}
	if s := memprovider.State(state); s != memprovider.Enabled && s != memprovider.Disabled {
		return memprovider.InMemoryFlag{}, fmt.Errorf(`"state" is %q, want %q or %q`, state, memprovider.Enabled, memprovider.Disabled)
	}

	variants, err := parseVariants(key, fields["variants"])
	if err != nil {
		return memprovider.InMemoryFlag{}, err
	}

	defaultVariant, err := requiredString(fields, "defaultVariant")
	if err != nil {
		return memprovider.InMemoryFlag{}, err
	}
	if _, ok := variants[defaultVariant]; !ok {
		return memprovider.InMemoryFlag{}, fmt.Errorf(`"defaultVariant" %q is not among the variants`, defaultVariant)
	}

	return memprovider.InMemoryFlag{
		Key:            key,
		State:          memprovider.State(state),
		DefaultVariant: defaultVariant,
		Variants:       variants,
	}, nil
}

// parseVariants parses a flag's variants: a non-empty object whose values
// share one kind, which must be boolean for a boolean flag this package
// knows.
func parseVariants(key string, raw json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, errors.New(`"variants" is missing`)
	}
	fields, err := jsonObject(raw)
	if err != nil {
		return nil, fmt.Errorf(`"variants": %w`, err)
	}
	if len(fields) == 0 {
		return nil, errors.New(`"variants" is empty`)
	}
	_, known := knownBoolFlags[key]
	variants := make(map[string]any, len(fields))
	var firstKind, firstName string
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		value, kind, err := variantValue(fields[name])
		if err != nil {
			return nil, fmt.Errorf("variant %q: %w", name, err)
		}
		if known && kind != kindBoolean {
			return nil, fmt.Errorf("variant %q is a %s, but the flag is boolean", name, kind)
		}
		if firstKind == "" {
			firstKind, firstName = kind, name
		} else if kind != firstKind {
			return nil, fmt.Errorf("variant %q is a %s, but variant %q is a %s: all variants must have one type", name, kind, firstName, firstKind)
		}
		variants[name] = value
	}
	return variants, nil
}

// variantValue decodes one variant value and names its kind. Whole numbers
// become int64 and other numbers float64, which the in-memory provider serves
// to both integer and float evaluations as far as they fit.
func variantValue(raw json.RawMessage) (any, string, error) {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, kindBoolean, err
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, kindString, err
	case '{':
		var m map[string]any
		err := json.Unmarshal(raw, &m)
		return m, kindObject, err
	case '[':
		return nil, "", errors.New("arrays are not supported")
	case 'n':
		return nil, "", errors.New("null is not a value")
	}
	n := json.Number(raw)
	if i, err := n.Int64(); err == nil {
		return i, kindNumber, nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, "", fmt.Errorf("number %s is out of range", raw)
	}
	return f, kindNumber, nil
}

// checkMetadata accepts an object of string, number and boolean values.
func checkMetadata(raw json.RawMessage) error {
	fields, err := jsonObject(raw)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		value := bytes.TrimSpace(fields[name])
		switch value[0] {
		case '{', '[', 'n':
			return fmt.Errorf("%q: only strings, numbers and booleans are supported", name)
		}
	}
	return nil
}

// requiredString returns the string field name of fields.
func requiredString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("%q is missing", name)
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %w", name, err)
	}
	return s, nil
}

// jsonString decodes raw, which must be a JSON string (not null).
func jsonString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] != '"' {
		return "", errors.New("must be a string")
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// jsonObject decodes raw, which must be a JSON object (not null), keeping
// each member undecoded.
func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] != '{' {
		return nil, errors.New("must be an object")
	}
	var fields map[string]json.RawMessage
	err := json.Unmarshal(raw, &fields)
	return fields, err
}

// checkDuplicateKeys walks the next JSON value of dec, already known to be
// valid, and reports the first object that repeats a key: encoding/json
// would silently keep the last one. where names the value in the message.
func checkDuplicateKeys(dec *json.Decoder, where string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if delim == '[' {
		for i := 0; dec.More(); i++ {
			if err := checkDuplicateKeys(dec, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("duplicate key %q in %s", key, where)
		}
		seen[key] = true
		if err := checkDuplicateKeys(dec, childPath(where, key)); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// childPath names the member key of the value at where, as in
// "flags"."dynamics-portal-enabled".
func childPath(where, key string) string {
	if where == documentRoot {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%s.%q", where, key)
}
