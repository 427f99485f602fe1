package caddymodule

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
)

// Links between a client and a resource, shared by `caddy oauth-client link` and
// `caddy oauth-resource link`.

// linkFlags adds what a link grants: tokens (the usual link) and introspection.
func linkFlags(fs *pflag.FlagSet) {
	fs.Bool("tokens", true, "The client may get access tokens for the resource")
	fs.Bool("introspect", false, "The client may introspect the resource's tokens (it is the resource's server or gateway)")
	fs.String("link-metadata", "", "Free-form metadata of the link, a JSON object (or @file)")
}

func putLink(s *adminSession, fs *pflag.FlagSet, clientID, resource string) error {
	if clientID == "" || resource == "" {
		return fmt.Errorf("a link needs a client and a resource")
	}
	tokens, _ := fs.GetBool("tokens")
	introspect, _ := fs.GetBool("introspect")
	body := map[string]any{"client_id": clientID, "resource": resource, "tokens": tokens, "introspect": introspect}
	if meta, _ := fs.GetString("link-metadata"); meta != "" {
		v, err := readJSONValue(meta)
		if err != nil {
			return fmt.Errorf("--link-metadata: %v", err)
		}
		body["metadata"] = v
	}
	raw, err := s.do(adminCall{method: "PUT", path: "/oauth/links", body: body})
	if err != nil {
		return err
	}
	return s.printAnswer(raw, func() error {
		_, err := fmt.Fprintf(s.out, "linked client %s to %s (%s)\n", clientID, resource, linkGrants(tokens, introspect))
		return err
	})
}

func deleteLink(s *adminSession, clientID, resource string) error {
	if clientID == "" || resource == "" {
		return fmt.Errorf("a link needs a client and a resource")
	}
	q := url.Values{"client_id": {clientID}, "resource": {resource}}
	if _, err := s.do(adminCall{method: "DELETE", path: "/oauth/links", query: q}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.out, "unlinked client %s from %s\n", clientID, resource)
	return err
}

func listLinks(s *adminSession, filter url.Values) error {
	var answer map[string]any
	raw, err := s.doJSON(adminCall{method: "GET", path: "/oauth/links", query: filter}, &answer)
	if err != nil {
		return err
	}
	return s.printAnswer(raw, func() error {
		var rows [][]string
		items, _ := answer["links"].([]any)
		for _, it := range items {
			l, _ := it.(map[string]any)
			tokens, _ := l["tokens"].(bool)
			introspect, _ := l["introspect"].(bool)
			rows = append(rows, []string{str(l, "client_id"), str(l, "resource"), linkGrants(tokens, introspect)})
		}
		return writeRows(s.out, []string{"CLIENT_ID", "RESOURCE", "GRANTS"}, rows)
	})
}

// linkGrants names what a link allows, for the table.
func linkGrants(tokens, introspect bool) string {
	var g []string
	if tokens {
		g = append(g, "tokens")
	}
	if introspect {
		g = append(g, "introspect")
	}
	if len(g) == 0 {
		return "nothing"
	}
	return strings.Join(g, ", ")
}
