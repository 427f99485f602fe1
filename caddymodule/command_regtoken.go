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
		Name:  "oauth-registration-token",
		Usage: "create|list|delete [<id>] [--uses <n>] [--expires-in <duration>] [--description <text>]",
		Short: "Manages the initial access tokens of dynamic client registration",
		Long: `
Creates, lists and revokes the initial access tokens that apps present to
/register (RFC 7591) when registration takes one, through the admin API:

	caddy oauth-registration-token create --uses 1 --expires-in 24h --description "CI pipeline"
	caddy oauth-registration-token list
	caddy oauth-registration-token delete <id>

create prints the token once: the server keeps only its hash. Output is a table,
or the admin API's JSON with --json. --issuer may be left out when one issuer is
configured. The admin API is reached at --address, the admin address of
--config, or the default localhost:2019.`,
		CobraFunc: func(cmd *cobra.Command) { registrationTokenCommands(cmd, nil) },
	})
}

// registrationTokenCommands adds the subcommands of `caddy oauth-registration-token` to
// cmd; send is nil for the real admin endpoint.
func registrationTokenCommands(cmd *cobra.Command, send adminSender) {
	adminFlags(cmd)
	create := &cobra.Command{Use: "create [flags]", Short: "Creates a token; prints it once", Args: cobra.NoArgs, RunE: runAdmin(send, registrationTokenCreate)}
	create.Flags().Int("uses", 0, "How many registrations it allows (0: the server's default)")
	create.Flags().String("expires-in", "", "How long it is valid, e.g. 24h (default: the server's)")
	create.Flags().String("description", "", "What it is for, shown in list")
	cmd.AddCommand(create,
		&cobra.Command{Use: "list", Short: "Lists the tokens (never the tokens themselves)", Args: cobra.NoArgs, RunE: runAdmin(send, registrationTokenList)},
		&cobra.Command{Use: "delete <id>", Short: "Revokes a token", Args: cobra.ExactArgs(1), RunE: runAdmin(send, registrationTokenDelete)})
}

const registrationTokensPath = "/oauth/initial-access-tokens"

func registrationTokenCreate(s *adminSession, fs *pflag.FlagSet, _ []string) error {
	body := map[string]any{}
	if uses, _ := fs.GetInt("uses"); fs.Changed("uses") {
		if uses < 1 {
			return fmt.Errorf("--uses must be at least 1")
		}
		body["uses"] = uses
	}
	if d, _ := fs.GetString("expires-in"); d != "" {
		body["expires_in"] = d
	}
	if d, _ := fs.GetString("description"); d != "" {
		body["description"] = d
	}
	var answer map[string]any
	raw, err := s.doJSON(adminCall{method: "POST", path: registrationTokensPath, body: body}, &answer)
	if err != nil {
		return err
	}
	return s.printAnswer(raw, func() error {
		return writeObject(s.out, answer, []string{"id", "token", "description", "expires_at", "uses_left"})
	})
}

func registrationTokenList(s *adminSession, _ *pflag.FlagSet, _ []string) error {
	var answer map[string]any
	raw, err := s.doJSON(adminCall{method: "GET", path: registrationTokensPath}, &answer)
	if err != nil {
		return err
	}
	return s.printAnswer(raw, func() error {
		var rows [][]string
		items, _ := answer["initial_access_tokens"].([]any)
		for _, it := range items {
			t, _ := it.(map[string]any)
			rows = append(rows, []string{str(t, "id"), str(t, "description"), str(t, "expires_at"), str(t, "uses_left"), str(t, "created_at")})
		}
		return writeRows(s.out, []string{"ID", "DESCRIPTION", "EXPIRES_AT", "USES_LEFT", "CREATED_AT"}, rows)
	})
}

func registrationTokenDelete(s *adminSession, _ *pflag.FlagSet, args []string) error {
	if _, err := s.do(adminCall{method: "DELETE", path: registrationTokensPath + "/" + url.PathEscape(args[0])}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.out, "deleted registration token %s\n", args[0])
	return err
}
