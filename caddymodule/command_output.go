package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// The management commands print tables by default: a list as one row per object, one
// object as "name  value" lines. --json prints the admin API's answer instead.

// writeRows prints a table with a header row; empty cells print as "-".
func writeRows(out io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = c
			if c == "" {
				cells[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeObject prints obj's members as "name  value" lines: those in first (when present)
// in that order, then the others sorted; members that are null or empty are left out.
func writeObject(out io.Writer, obj map[string]any, first []string) error {
	names := make([]string, 0, len(obj))
	for name := range obj {
		if !slices.Contains(first, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, name := range append(slices.Clone(first), names...) {
		v, ok := obj[name]
		if !ok || isEmptyValue(v) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, cell(v))
	}
	return tw.Flush()
}

func isEmptyValue(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// cell renders one JSON value for a table: strings as they are, lists of strings joined
// by spaces, anything else as compact JSON.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []any:
		words := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return compactJSON(v)
			}
			words = append(words, s)
		}
		return strings.Join(words, " ")
	}
	return compactJSON(v)
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// str returns obj[name] rendered as a cell.
func str(obj map[string]any, name string) string { return cell(obj[name]) }

// status is "disabled" or "enabled" from a view's "disabled" member.
func status(obj map[string]any) string {
	if d, _ := obj["disabled"].(bool); d {
		return "disabled"
	}
	return "enabled"
}

// source names where an object comes from: its "source" member, else "config" for one
// declared in the configuration and "runtime" for the others.
func source(obj map[string]any) string {
	if s, _ := obj["source"].(string); s != "" {
		return s
	}
	if c, _ := obj["configured"].(bool); c {
		return "config"
	}
	return "runtime"
}
