package caddymodule

import (
	"fmt"
	"net/url"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth-resource",
		Usage: "list|add|show|update|delete|link|unlink|links [<identifier>] [flags]",
		Short: "Manages the protected APIs (resources) of a running oauth_server",
		Long: `
Adds, shows, changes and deletes the resources (the APIs tokens are issued for,
named by their identifier, the tokens' audience) of a running server through
its admin API, without editing the configuration or a reload:

	caddy oauth-resource add --identifier https://api.example --name "Example API" \
		--scope "read write" --access-token-ttl 10m --claim tenant=acme
	caddy oauth-resource list
	caddy oauth-resource show https://api.example
	caddy oauth-resource update https://api.example --access-token-format opaque
	caddy oauth-resource link https://api.example --client web
	caddy oauth-resource delete https://api.example

Flags name the members of the resource's JSON; --set name=JSON sets any member,
--file starts from a JSON document. update changes only what it is given (a JSON
merge patch); --unset clears a member, --claim-json name=null removes a claim.
Deleting a resource ends its tokens.

Output is a table, or the admin API's JSON with --json. Errors are the admin
API's. Resources declared in the configuration cannot be changed here (409).
--issuer may be left out when one issuer is configured. The admin API is reached
at --address, the admin address of --config, or the default localhost:2019.`,
		CobraFunc: func(cmd *cobra.Command) { resourceCommands(cmd, nil) },
	})
}

// resourceFields are the flags of add and update, onto the admin API's resource JSON.
var resourceFields = []metadataField{
	{"name", "name", fieldText, "Name shown to users"},
	{"scope", "scopes", fieldList, `The scopes the resource accepts, e.g. "read write" (repeatable; none given: any)`},
	{"access-token-ttl", "access_token_ttl", fieldText, "Lifetime of its access tokens, e.g. 10m"},
	{"refresh-token-ttl", "refresh_token_ttl", fieldText, "Lifetime of refresh tokens for it, e.g. 720h"},
	{"access-token-format", "access_token_format", fieldText, "jwt or opaque"},
	{"signing-alg", "signing_alg", fieldText, "JWS algorithm of its JWT access tokens"},
	{"signing-key-id", "signing_key_id", fieldText, "Key ID to sign its tokens with"},
	{"account-claim", "account_claims", fieldList, `Account claims copied into its user tokens, e.g. "roles groups" (repeatable)`},
	{"dpop-required", "dpop_bound_access_tokens_required", fieldBool, "Issue only DPoP-bound access tokens for it"},
	{"disabled", "disabled", fieldBool, "Issue no tokens for it"},
	{"metadata", "metadata", fieldJSON, "Free-form metadata, a JSON object (or @file)"},
}

// resourceAddFields are those of add: the identifier is only chosen at creation.
var resourceAddFields = append([]metadataField{{"identifier", "identifier", fieldText, "The resource's identifier, an absolute URI"}}, resourceFields...)

// resourceCommands adds the subcommands of `caddy oauth-resource` to cmd; send is nil for
// the real admin endpoint.
func resourceCommands(cmd *cobra.Command, send adminSender) {
	adminFlags(cmd)
	sub := func(use, short string, args cobra.PositionalArgs, action adminAction) *pflag.FlagSet {
		c := &cobra.Command{Use: use, Short: short, Args: args, RunE: runAdmin(send, action)}
		cmd.AddCommand(c)
		return c.Flags()
	}
	listFlags(sub("list", "Lists the resources", cobra.NoArgs, resourceList))

	fs := sub("add --identifier <uri> [flags]", "Adds a resource", cobra.NoArgs, resourceAdd)
	addFieldFlags(fs, resourceAddFields)
	claimFlags(fs)

	sub("show <identifier>", "Shows a resource", cobra.ExactArgs(1), resourceShow)

	fs = sub("update <identifier> [flags]", "Changes the given members of a resource", cobra.ExactArgs(1), resourceUpdate)
	addFieldFlags(fs, resourceFields)
	claimFlags(fs)
	fs.StringArray("unset", nil, "Clear this member of the JSON (repeatable)")

	sub("delete <identifier>", "Deletes a resource and ends its tokens", cobra.ExactArgs(1), resourceDelete)

	fs = sub("link <identifier> --client <client_id>", "Lets a client get tokens for the resource, or introspect them", cobra.ExactArgs(1), resourceLink)
	fs.String("client", "", "The client's ID")
	linkFlags(fs)

	fs = sub("unlink <identifier> --client <client_id>", "Removes the link between the resource and a client", cobra.ExactArgs(1), resourceUnlink)
	fs.String("client", "", "The client's ID")

	sub("links <identifier>", "Lists the clients linked to a resource", cobra.ExactArgs(1), resourceLinks)
}

func resourcePath(identifier string) string { return "/oauth/resources/" + url.PathEscape(identifier) }

// claimFlags adds the claim flags of add and update, like `caddy oauth-account`'s.
func claimFlags(fs *pflag.FlagSet) {
	fs.StringArray("claim", nil, "A string claim of its tokens, name=value (repeatable)")
	fs.StringArray("claim-json", nil, "A claim of any JSON type, name=JSON (repeatable; null removes it in update)")
}

// resourceBody is fieldBody plus the claims flags, as the "claims" object.
func resourceBody(fs *pflag.FlagSet, fields []metadataField) (map[string]any, error) {
	body, err := fieldBody(fs, fields)
	if err != nil {
		return nil, err
	}
	strs, _ := fs.GetStringArray("claim")
	jsons, _ := fs.GetStringArray("claim-json")
	if len(strs)+len(jsons) == 0 {
		return body, nil
	}
	if _, dup := body["claims"]; dup {
		return nil, fmt.Errorf("claims is given twice (--claim and --set or --file)")
	}
	if body["claims"], err = parseClaims(strs, jsons); err != nil {
		return nil, err
	}
	return body, nil
}

func resourceList(s *adminSession, fs *pflag.FlagSet, _ []string) error {
	resources, next, err := listPages(s, fs, "/oauth/resources", "resources", nil)
	if err != nil {
		return err
	}
	return printList(s, "resources", resources, next,
		[]string{"IDENTIFIER", "NAME", "FORMAT", "SCOPES", "SOURCE", "STATUS"},
		func(r map[string]any) []string {
			return []string{str(r, "identifier"), str(r, "name"), str(r, "access_token_format"),
				str(r, "scopes"), source(r), status(r)}
		})
}

func resourceAdd(s *adminSession, fs *pflag.FlagSet, _ []string) error {
	body, err := resourceBody(fs, resourceAddFields)
	if err != nil {
		return err
	}
	return s.showResource(adminCall{method: "POST", path: "/oauth/resources", body: body})
}

func resourceShow(s *adminSession, _ *pflag.FlagSet, args []string) error {
	return s.showResource(adminCall{method: "GET", path: resourcePath(args[0])})
}

func resourceUpdate(s *adminSession, fs *pflag.FlagSet, args []string) error {
	patch, err := resourceBody(fs, resourceFields)
	if err != nil {
		return err
	}
	if patch, err = withUnset(fs, patch); err != nil {
		return err
	}
	return s.showResource(adminCall{method: "PATCH", path: resourcePath(args[0]), body: patch, contentType: mergePatchType})
}

// resourceShowOrder is the order of the first lines of a resource shown as a table.
var resourceShowOrder = []string{"identifier", "name", "source", "configured", "disabled", "access_token_format",
	"scopes", "access_token_ttl", "refresh_token_ttl", "signing_alg"}

func (s *adminSession) showResource(call adminCall) error {
	var view map[string]any
	raw, err := s.doJSON(call, &view)
	if err != nil {
		return err
	}
	return s.printAnswer(raw, func() error { return writeObject(s.out, view, resourceShowOrder) })
}

func resourceDelete(s *adminSession, _ *pflag.FlagSet, args []string) error {
	if _, err := s.do(adminCall{method: "DELETE", path: resourcePath(args[0])}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.out, "deleted resource %s\n", args[0])
	return err
}

func resourceLink(s *adminSession, fs *pflag.FlagSet, args []string) error {
	client, _ := fs.GetString("client")
	return putLink(s, fs, client, args[0])
}

func resourceUnlink(s *adminSession, fs *pflag.FlagSet, args []string) error {
	client, _ := fs.GetString("client")
	return deleteLink(s, client, args[0])
}

func resourceLinks(s *adminSession, _ *pflag.FlagSet, args []string) error {
	return listLinks(s, url.Values{"resource": {args[0]}})
}
