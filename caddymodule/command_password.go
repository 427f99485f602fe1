package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth-password",
		Usage: "[--password <password>|-]",
		Short: "Hashes an end-user password for an oauth_server account",
		Long: `
Prints the argon2id hash of a password, to put in an account block instead of
the password itself:

	account alice {
		password_hash $argon2id$v=19$m=19456,t=2,p=1$...
	}

On a terminal it asks for the password twice without echoing it. Otherwise it
reads the first line of standard input ("--password -" does the same), which
keeps the password out of the shell history and the process list.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("password", "p", "", "Hash this password (- reads stdin; avoid passing it literally)")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdOAuthPassword)
		},
	})
}

func cmdOAuthPassword(fl caddycmd.Flags) (int, error) {
	password := fl.String("password")
	var err error
	switch {
	case password != "" && password != "-":
	case password == "" && term.IsTerminal(int(os.Stdin.Fd())):
		if password, err = promptPassword(os.Stderr); err != nil {
			return 1, err
		}
	default:
		if password, err = readSecretLine(os.Stdin); err != nil {
			return 1, err
		}
	}
	if password == "" {
		return 1, fmt.Errorf("no password given")
	}
	hash, err := account.HashPassword(password)
	if err != nil {
		return 1, err
	}
	fmt.Println(hash)
	return 0, nil
}

func promptPassword(w io.Writer) (string, error) {
	fd := int(os.Stdin.Fd())
	fmt.Fprint(w, "Password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return "", err
	}
	fmt.Fprint(w, "Again: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(first, second) {
		return "", fmt.Errorf("the passwords differ")
	}
	return string(first), nil
}
