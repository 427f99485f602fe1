package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth-account",
		Usage: "list|add|passwd|claims|disable|enable|delete|passkeys|revoke-passkey [--username <name>] [--id <passkey id>] [--issuer <url>] [--claim <name=value>]... [--claim-json <name=json>]... [--password-hash <hash>] [--address <interface>] [--config <path> [--adapter <name>]]",
		Short: "Manages the end-user accounts of a running oauth_server",
		Long: `
Adds, changes, disables and deletes end-user accounts of a running server
through its admin API, without editing the configuration or a restart:

	caddy oauth-account list
	caddy oauth-account add --username carol --claim name="Carol Lewis" --claim-json email_verified=true
	caddy oauth-account passwd --username carol
	caddy oauth-account claims --username carol --claim email=carol@example.com
	caddy oauth-account disable --username carol
	caddy oauth-account enable --username carol
	caddy oauth-account delete --username carol
	caddy oauth-account passkeys --username carol
	caddy oauth-account revoke-passkey --username carol --id <passkey id>

add and passwd ask for the password twice on a terminal, without echoing it;
otherwise they read the first line of standard input. A password is never taken
from the command line; --password-hash sets an argon2id or bcrypt hash instead
(see caddy oauth-password). --claim sets a string claim, --claim-json a claim of
any JSON type; claims replaces all claims (none given clears them). Disabling or
deleting an account ends its sessions and refresh tokens. passkeys lists an
account's passkeys (revoked ones too); revoke-passkey revokes one, which then
never signs in again.

Accounts declared in the configuration cannot be changed here: the next start
would restore them. --issuer may be left out when one issuer is configured. The
admin API is reached at --address, the admin address of --config, or the
default localhost:2019.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Args = cobra.ExactArgs(1)
			accountFlags(cmd)
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdOAuthAccount)
		},
	})
}

func accountFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringP("username", "u", "", "The account's username")
	fs.String("id", "", "The passkey to revoke (revoke-passkey)")
	fs.StringP("issuer", "i", "", "The issuer whose accounts to manage, if several are configured")
	fs.StringArray("claim", nil, "A string claim name=value (repeatable)")
	fs.StringArray("claim-json", nil, "A claim name=JSON value, e.g. email_verified=true (repeatable)")
	fs.String("password-hash", "", "Set this argon2id or bcrypt hash instead of asking for a password")
	fs.String("address", "", "The address of the admin API, if not the default")
	fs.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
	fs.StringP("adapter", "a", "", "Name of the config adapter (with --config)")
}

func cmdOAuthAccount(fl caddycmd.Flags) (int, error) {
	c, err := parseAccountCommand(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	if err := c.run(addr, os.Stdout); err != nil {
		return 1, err
	}
	return 0, nil
}

// accountCommand is one parsed `caddy oauth-account` invocation.
type accountCommand struct {
	action, issuer, username string
	id                       string         // revoke-passkey's passkey
	claims                   map[string]any // nil: not given
	passwordHash             string
	// readPassword asks for the new password of add and passwd.
	readPassword func() (string, error)
}

// accountActions lists the actions and whether they take a password and claims.
var accountActions = map[string]struct{ password, claims bool }{
	"list": {}, "disable": {}, "enable": {}, "delete": {}, "passkeys": {}, "revoke-passkey": {},
	"add": {password: true, claims: true}, "passwd": {password: true}, "claims": {claims: true},
}

func parseAccountCommand(fl caddycmd.Flags) (accountCommand, error) {
	c := accountCommand{
		action:       fl.Arg(0),
		issuer:       fl.String("issuer"),
		username:     fl.String("username"),
		id:           fl.String("id"),
		passwordHash: fl.String("password-hash"),
		readPassword: readNewPassword,
	}
	takes, ok := accountActions[c.action]
	switch {
	case fl.NArg() != 1 || !ok:
		return c, fmt.Errorf("want one action: list, add, passwd, claims, disable, enable, delete, passkeys or revoke-passkey")
	case c.action == "list" && c.username != "":
		return c, fmt.Errorf("list takes no --username")
	case c.action != "list" && c.username == "":
		return c, fmt.Errorf("%s needs --username", c.action)
	case (c.action == "revoke-passkey") != (c.id != ""):
		return c, fmt.Errorf("--id goes with revoke-passkey, which needs it")
	case c.passwordHash != "" && !takes.password:
		return c, fmt.Errorf("%s takes no --password-hash", c.action)
	}
	strs, _ := fl.GetStringArray("claim")
	jsons, _ := fl.GetStringArray("claim-json")
	if (len(strs) > 0 || len(jsons) > 0) && !takes.claims {
		return c, fmt.Errorf("%s takes no claims", c.action)
	}
	if takes.claims {
		var err error
		if c.claims, err = parseClaims(strs, jsons); err != nil {
			return c, err
		}
		if c.action == "add" && len(c.claims) == 0 {
			c.claims = nil
		}
	}
	return c, nil
}

// parseClaims builds claims from --claim name=value (strings) and --claim-json name=JSON.
// It returns an empty, non-nil map when none is given: for the claims action that clears.
func parseClaims(strs, jsons []string) (map[string]any, error) {
	claims := map[string]any{}
	set := func(arg string, parse func(string) (any, error)) error {
		name, value, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return fmt.Errorf("claim %q: want name=value", arg)
		}
		if _, dup := claims[name]; dup {
			return fmt.Errorf("claim %s is given twice", name)
		}
		v, err := parse(value)
		if err != nil {
			return fmt.Errorf("claim %s: %v", name, err)
		}
		claims[name] = v
		return nil
	}
	for _, arg := range strs {
		if err := set(arg, func(s string) (any, error) { return s, nil }); err != nil {
			return nil, err
		}
	}
	for _, arg := range jsons {
		err := set(arg, func(s string) (any, error) {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, fmt.Errorf("not JSON: %v", err)
			}
			return v, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// readNewPassword asks twice without echo on a terminal, else reads one line of stdin.
func readNewPassword() (string, error) {
	var (
		pw  string
		err error
	)
	if term.IsTerminal(int(os.Stdin.Fd())) {
		pw, err = promptPassword(os.Stderr)
	} else {
		pw, err = readSecretLine(os.Stdin)
	}
	if err == nil && pw == "" {
		err = fmt.Errorf("no password given")
	}
	return pw, err
}

// request builds the admin API request of the command.
func (c accountCommand) request() (method, uri string, header http.Header, body io.Reader, err error) {
	q := url.Values{}
	if c.issuer != "" {
		q.Set("issuer", c.issuer)
	}
	switch c.action {
	case "list":
		return http.MethodGet, accountsURI(q), nil, nil, nil
	case "delete":
		q.Set("username", c.username)
		return http.MethodDelete, accountsURI(q), nil, nil, nil
	case "passkeys":
		return http.MethodGet, passkeysURI(c.issuer, c.username, ""), nil, nil, nil
	case "revoke-passkey":
		return http.MethodDelete, passkeysURI(c.issuer, c.username, c.id), nil, nil, nil
	}
	req := accountRequest{Issuer: c.issuer, Username: c.username, Claims: c.claims}
	header = http.Header{}
	// add must not overwrite an account, the others must not create one.
	if c.action == "add" {
		header.Set("If-None-Match", "*")
	} else {
		header.Set("If-Match", "*")
	}
	switch c.action {
	case "add", "passwd":
		req.PasswordHash = c.passwordHash
		if req.PasswordHash == "" {
			if req.Password, err = c.readPassword(); err != nil {
				return "", "", nil, nil, err
			}
		}
	case "disable", "enable":
		disabled := c.action == "disable"
		req.Disabled = &disabled
	}
	b, err := json.Marshal(req)
	if err != nil {
		return "", "", nil, nil, err
	}
	return http.MethodPut, "/oauth/accounts", header, bytes.NewReader(b), nil
}

func accountsURI(q url.Values) string {
	if len(q) == 0 {
		return "/oauth/accounts"
	}
	return "/oauth/accounts?" + q.Encode()
}

// run sends the command to the admin API at addr and reports the result on out.
func (c accountCommand) run(addr string, out io.Writer) error {
	method, uri, header, body, err := c.request()
	if err != nil {
		return err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, header, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, 16<<20))
	switch c.action {
	case "list":
		var list accountList
		if err := dec.Decode(&list); err != nil {
			return fmt.Errorf("reading the account list: %v", err)
		}
		return writeAccounts(out, list.Accounts)
	case "delete":
		_, err = fmt.Fprintf(out, "deleted %s\n", c.username)
		return err
	case "passkeys":
		var list passkeyList
		if err := dec.Decode(&list); err != nil {
			return fmt.Errorf("reading the passkey list: %v", err)
		}
		return writePasskeys(out, list.Passkeys)
	case "revoke-passkey":
		_, err = fmt.Fprintf(out, "revoked passkey %s of %s\n", c.id, c.username)
		return err
	}
	var v authserver.AccountView
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("reading the account: %v", err)
	}
	done := map[string]string{"add": "added", "passwd": "changed the password of", "claims": "replaced the claims of",
		"disable": "disabled", "enable": "enabled"}[c.action]
	_, err = fmt.Fprintf(out, "%s %s (sub %s)\n", done, v.Username, v.Subject)
	return err
}

func writeAccounts(out io.Writer, accs []authserver.AccountView) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSUBJECT\tSTATUS\tSOURCE")
	for _, a := range accs {
		status, source := "enabled", "runtime"
		if a.Disabled {
			status = "disabled"
		}
		if a.Configured {
			source = "config"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Username, a.Subject, status, source)
	}
	return tw.Flush()
}

func writePasskeys(out io.Writer, list []authserver.PasskeyView) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tCREATED\tLAST USED\tSTATUS")
	for _, p := range list {
		kind, status, used := "device-bound", "active", "never"
		if p.BackupEligible {
			kind = "synced"
		}
		switch {
		case p.Revoked:
			status = "revoked"
		case p.CloneWarning:
			status = "active (clone warning)"
		}
		if !p.LastUsedAt.IsZero() {
			used = p.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, kind, p.CreatedAt.Format(time.RFC3339), used, status)
	}
	return tw.Flush()
}
