package caddymodule

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"encoding/json"
	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestCaddyfilePasskeys(t *testing.T) {
	const head = "oauth_server {\n issuer https://login.example.com\n "
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "on with defaults", input: head + "passkeys\n}", want: `{"issuer":"https://login.example.com","passkeys":{}}`},
		{name: "every option", input: head + "passkeys {\n rp_id example.com\n origins https://login.example.com https://example.com\n rp_name \"Example\"\n challenge_ttl 2m\n phishing_resistant_acr urn:example:acr:passkey\n }\n}",
			want: `{"issuer":"https://login.example.com","passkeys":{"rp_id":"example.com","origins":["https://login.example.com","https://example.com"],"rp_name":"Example","challenge_ttl":120000000000,"phishing_resistant_acr":"urn:example:acr:passkey"}}`},
		{name: "origin off the rp_id", input: head + "passkeys {\n origins https://evil.example.org\n }\n}", wantErr: "not on the rp_id"},
		{name: "IP issuer", input: "oauth_server {\n issuer http://127.0.0.1:9000\n passkeys\n}", wantErr: "must be a domain name"},
		{name: "unknown option", input: head + "passkeys {\n attestation direct\n }\n}", wantErr: "unknown passkeys subdirective"},
		{name: "twice", input: head + "passkeys\n passkeys\n}", wantErr: "set twice"},
		{name: "argument", input: head + "passkeys on\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestParsePasskeyCommands(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"passkeys", "-u", "alice"}},
		{args: []string{"revoke-passkey", "-u", "alice", "--id", "abc"}},
		{args: []string{"passkeys"}, wantErr: "needs --username"},
		{args: []string{"revoke-passkey", "-u", "alice"}, wantErr: "--id goes with revoke-passkey"},
		{args: []string{"passkeys", "-u", "alice", "--id", "abc"}, wantErr: "--id goes with revoke-passkey"},
	} {
		_, err := parseArgs(t, tt.args...)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestPasskeyAdminAndCommand: the CLI lists and revokes an account's passkeys through the
// admin API's real handler.
func TestPasskeyAdminAndCommand(t *testing.T) {
	f := newAccountsFixture(t, issuerA)
	st := f.stores[issuerA]
	acc, err := st.GetAccountByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cred-one", "cred-two"} {
		p := &store.Passkey{ID: id, Subject: acc.Subject, UserHandle: []byte{1}, PublicKey: []byte{2}, Name: "Key " + id, BackupEligible: id == "cred-two"}
		if err := st.CreatePasskey(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	// A session each passkey signed in: revoking one ends its session only.
	for _, id := range []string{"cred-one", "cred-two"} {
		now := time.Now()
		se := &store.Session{ID: "sess-" + id, Subject: acc.Subject, AMR: []string{"hwk"}, PasskeyID: id,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateSession(t.Context(), se); err != nil {
			t.Fatal(err)
		}
	}
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f.api.handlePasskeys(w, r); err != nil {
			var ae caddy.APIError
			if !errors.As(err, &ae) {
				ae = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(ae.HTTPStatus)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": ae.Err.Error()})
		}
	}))
	defer admin.Close()
	run := func(args ...string) (string, error) {
		c, err := parseArgs(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = c.run(strings.TrimPrefix(admin.URL, "http://"), &out)
		return out.String(), err
	}

	out, err := run("passkeys", "-u", "ALICE")
	if err != nil || !strings.Contains(out, "cred-one  Key cred-one  device-bound") || !strings.Contains(out, "cred-two  Key cred-two  synced") ||
		strings.Count(out, "active") != 2 {
		t.Fatalf("passkeys: %v\n%s", err, out)
	}
	if out, err := run("revoke-passkey", "-u", "alice", "--id", "cred-one"); err != nil || !strings.Contains(out, "revoked passkey cred-one of alice") {
		t.Fatalf("revoke-passkey: %v %s", err, out)
	}
	if _, err := run("revoke-passkey", "-u", "alice", "--id", "cred-one"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("revoking twice: %v, want 404", err)
	}
	if _, err := run("passkeys", "-u", "nobody"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an unknown account: %v, want 404", err)
	}
	out, _ = run("passkeys", "-u", "alice")
	if !strings.Contains(out, "revoked") || strings.Count(out, "active") != 1 {
		t.Fatalf("after revoking:\n%s", out)
	}
	got, _ := st.GetPasskey(t.Context(), "cred-one")
	if got.RevokedAt.IsZero() {
		t.Fatal("the store does not show the revocation")
	}
	if _, err := st.GetSession(t.Context(), "sess-cred-one"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked passkey's session: %v, want it ended", err)
	}
	if _, err := st.GetSession(t.Context(), "sess-cred-two"); err != nil {
		t.Errorf("the other passkey's session: %v", err)
	}

	// The JSON of the admin API.
	res, err := http.Get(admin.URL + passkeysURI("", "alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list passkeyList
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Passkeys) != 2 || !list.Passkeys[0].Revoked || list.Passkeys[1].Revoked {
		t.Fatalf("GET passkeys: %v %+v", err, list)
	}
	req, _ := http.NewRequest(http.MethodDelete, admin.URL+"/oauth/accounts/passkeys?username=alice", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("DELETE without an id: %v %v", err, res.Status)
	}
}
