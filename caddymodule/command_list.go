package caddymodule

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/pflag"
)

// listPageSize is how many objects the list commands ask for per admin API request.
const listPageSize = 100

// listFlags adds the paging flags of a list subcommand.
func listFlags(fs *pflag.FlagSet) {
	fs.Int("limit", 0, "Show at most this many (0: all)")
	fs.String("after", "", "Start after this ID (the \"next\" of an earlier --limit list)")
}

// listPages fetches the objects under member of path's pages, following the "next"
// cursor, until limit objects (0: all) or the last page. It returns the cursor that
// continues the list ("" at its end).
func listPages(s *adminSession, fs *pflag.FlagSet, path, member string, filter url.Values) ([]map[string]any, string, error) {
	limit, _ := fs.GetInt("limit")
	after, _ := fs.GetString("after")
	if limit < 0 {
		return nil, "", fmt.Errorf("--limit must not be negative")
	}
	var all []map[string]any
	for {
		q := url.Values{}
		for k, v := range filter {
			q[k] = v
		}
		size := listPageSize
		if limit > 0 {
			size = min(size, limit-len(all))
		}
		q.Set("limit", strconv.Itoa(size))
		if after != "" {
			q.Set("after", after)
		}
		var page map[string]any
		if _, err := s.doJSON(adminCall{method: "GET", path: path, query: q}, &page); err != nil {
			return nil, "", err
		}
		items, _ := page[member].([]any)
		for _, it := range items {
			if obj, ok := it.(map[string]any); ok {
				all = append(all, obj)
			}
		}
		next, _ := page["next"].(string)
		// A cursor that does not move would loop forever: stop there.
		if next == "" || next == after || len(items) == 0 || (limit > 0 && len(all) >= limit) {
			return all, next, nil
		}
		after = next
	}
}

// printList prints objects as rows, or with --json as {member: [...], "next": cursor}.
func printList(s *adminSession, member string, objs []map[string]any, next string, header []string, row func(map[string]any) []string) error {
	if s.json {
		if objs == nil {
			objs = []map[string]any{}
		}
		return s.printValue(map[string]any{member: objs, "next": next})
	}
	rows := make([][]string, len(objs))
	for i, o := range objs {
		rows[i] = row(o)
	}
	if err := writeRows(s.out, header, rows); err != nil {
		return err
	}
	if next != "" {
		_, err := fmt.Fprintf(s.out, "(more: --after %s)\n", next)
		return err
	}
	return nil
}
