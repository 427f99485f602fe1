package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth-secret",
		Usage: "[--secret <secret>|-]",
		Short: "Generates a client secret and the hash to configure instead of it",
		Long: `
Prints a freshly generated client secret (256 random bits) and its encoded hash.
Give the secret to the client and put the hash in the configuration, so the
configuration holds no clear secret:

	client demo-service {
		secret_hash sha256$...
	}

With --secret, hashes the given secret instead of generating one; "--secret -"
reads it from the first line of standard input, which keeps it out of the shell
history and the process list. Low-entropy secrets are hashed with argon2id.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("secret", "s", "", "Hash this secret instead of generating one (- reads stdin)")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdOAuthSecret)
		},
	})
}

func cmdOAuthSecret(fl caddycmd.Flags) (int, error) {
	secret := fl.String("secret")
	if secret == "-" {
		var err error
		if secret, err = readSecretLine(os.Stdin); err != nil {
			return 1, err
		}
		if secret == "" {
			return 1, fmt.Errorf("no secret on standard input")
		}
	}
	if err := writeSecret(os.Stdout, secret); err != nil {
		return 1, err
	}
	return 0, nil
}

func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, clientsecret.MaxSecretLen+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading secret: %v", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// writeSecret prints the hash of secret, or a new secret and its hash when secret is
// empty. A given secret is not echoed back.
func writeSecret(w io.Writer, secret string) error {
	generated := secret == ""
	if generated {
		secret = clientsecret.Generate()
	}
	hash, err := clientsecret.Hash(secret)
	if err != nil {
		return err
	}
	if generated {
		_, err = fmt.Fprintf(w, "secret:      %s\nsecret_hash: %s\n", secret, hash)
	} else {
		_, err = fmt.Fprintf(w, "secret_hash: %s\n", hash)
	}
	return err
}
