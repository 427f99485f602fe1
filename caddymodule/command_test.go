package caddymodule

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
)

func TestWriteSecret(t *testing.T) {
	verifier := clientsecret.NewVerifier(time.Minute, 10)
	defer verifier.Close()

	tests := []struct {
		name, secret string
		wantLines    int
	}{
		{"generated", "", 2},
		{"given high-entropy", testSecret, 1},
		{"given passphrase", "correct horse battery staple", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeSecret(&out, tt.secret); err != nil {
				t.Fatal(err)
			}
			fields := map[string]string{}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			for _, line := range lines {
				k, v, _ := strings.Cut(line, ":")
				fields[k] = strings.TrimSpace(v)
			}
			if len(lines) != tt.wantLines || fields["secret_hash"] == "" {
				t.Fatalf("output:\n%s", out.String())
			}
			secret := tt.secret
			if secret == "" {
				secret = fields["secret"]
				if len(secret) < 43 {
					t.Fatalf("generated secret %q is too short", secret)
				}
			} else if strings.Contains(out.String(), secret) {
				t.Fatal("a given secret is echoed back")
			}
			if err := clientsecret.ValidateEncoded(fields["secret_hash"]); err != nil {
				t.Fatalf("hash %q: %v", fields["secret_hash"], err)
			}
			if !verifier.Verify("c", fields["secret_hash"], secret) {
				t.Fatal("the printed hash does not verify the secret")
			}
			if verifier.Verify("c", fields["secret_hash"], secret+"x") {
				t.Fatal("the printed hash verifies a different secret")
			}
		})
	}
}

func TestReadSecretLine(t *testing.T) {
	for in, want := range map[string]string{"abc\n": "abc", "abc\r\nmore": "abc", "abc": "abc", "": ""} {
		if got, err := readSecretLine(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("readSecretLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
