package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// A metadataField maps one command-line flag onto one member of the admin API's JSON
// (spec.ClientMetadata for clients, the resource JSON for resources). The flags of add and
// update are generated from these tables, so a flag and its JSON name are written once.
type metadataField struct {
	flag  string
	json  string
	kind  fieldKind
	usage string
}

type fieldKind int

const (
	fieldText  fieldKind = iota // string
	fieldList                   // repeatable flag of space-separated values -> array of strings
	fieldWords                  // repeatable flag of space-separated words -> one space-separated string (scope)
	fieldBool                   // boolean, sent only when given (--flag=false sends false)
	fieldJSON                   // a JSON value, or @file to read it from a file
)

// addFieldFlags defines the flags of fields on fs, plus the generic ones: --set name=JSON
// for a member without its own flag and --file for a whole JSON document.
func addFieldFlags(fs *pflag.FlagSet, fields []metadataField) {
	for _, f := range fields {
		switch f.kind {
		case fieldText, fieldJSON:
			fs.String(f.flag, "", f.usage)
		case fieldList, fieldWords:
			fs.StringArray(f.flag, nil, f.usage)
		case fieldBool:
			fs.Bool(f.flag, false, f.usage)
		}
	}
	fs.StringArray("set", nil, "Set any member of the JSON: name=JSON value (repeatable)")
	fs.String("file", "", "Start from this JSON document (- reads standard input); flags override its members")
}

// fieldBody builds the JSON object of the given flags: only the members whose flag was
// given, so the same object serves as a create request and as a JSON merge patch.
func fieldBody(fs *pflag.FlagSet, fields []metadataField) (map[string]any, error) {
	body := map[string]any{}
	if file, _ := fs.GetString("file"); file != "" {
		doc, err := readJSONDocument(file)
		if err != nil {
			return nil, err
		}
		body = doc
	}
	given := map[string]string{} // JSON member -> the flag that set it
	set := func(flag, member string, v any) error {
		if other, dup := given[member]; dup {
			return fmt.Errorf("%s is given twice (--%s and --%s)", member, other, flag)
		}
		given[member] = flag
		body[member] = v
		return nil
	}
	for _, f := range fields {
		if !fs.Changed(f.flag) {
			continue
		}
		v, err := fieldValue(fs, f)
		if err != nil {
			return nil, fmt.Errorf("--%s: %v", f.flag, err)
		}
		if err := set(f.flag, f.json, v); err != nil {
			return nil, err
		}
	}
	sets, _ := fs.GetStringArray("set")
	for _, arg := range sets {
		name, raw, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--set %q: want name=JSON", arg)
		}
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("--set %s: not JSON: %v", name, err)
		}
		if err := set("set", name, v); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func fieldValue(fs *pflag.FlagSet, f metadataField) (any, error) {
	switch f.kind {
	case fieldList:
		values, err := fs.GetStringArray(f.flag)
		// Values never contain spaces (URIs, scopes, grant types, addresses), so
		// --scope "read write" and --scope read --scope write say the same.
		return strings.Fields(strings.Join(values, " ")), err
	case fieldWords:
		words, err := fs.GetStringArray(f.flag)
		return strings.Join(strings.Fields(strings.Join(words, " ")), " "), err
	case fieldBool:
		return fs.GetBool(f.flag)
	case fieldJSON:
		s, err := fs.GetString(f.flag)
		if err != nil {
			return nil, err
		}
		return readJSONValue(s)
	default:
		return fs.GetString(f.flag)
	}
}

// readJSONValue parses a JSON flag value; @path reads it from a file.
func readJSONValue(s string) (json.RawMessage, error) {
	b := []byte(s)
	if path, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("not JSON")
	}
	return json.RawMessage(b), nil
}

// maxJSONDocument bounds --file: metadata documents are small.
const maxJSONDocument = 1 << 20

// readJSONDocument reads a JSON object from path ("-": standard input).
func readJSONDocument(path string) (map[string]any, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = readLimited(os.Stdin, maxJSONDocument)
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			b, err = readLimited(f, maxJSONDocument)
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--file: %v", err)
	}
	var doc map[string]any
	if err := decodeJSON(b, &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("--file: want a JSON object")
	}
	return doc, nil
}
