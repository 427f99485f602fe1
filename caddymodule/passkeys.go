package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/passkey"
)

// Passkeys turns on WebAuthn sign-in with passkeys: off unless present.
type Passkeys struct {
	// RPID is the WebAuthn relying party ID (default: the issuer's host); Origins the origins
	// whose pages run the ceremonies (default: the issuer's origin).
	RPID    string   `json:"rp_id,omitempty"`
	Origins []string `json:"origins,omitempty"`
	// RPName is the name authenticators may show (default: the RP ID).
	RPName string `json:"rp_name,omitempty"`
	// ChallengeTTL bounds a ceremony (default 5m).
	ChallengeTTL caddy.Duration `json:"challenge_ttl,omitempty"`
	// PhishingResistantACR is an acr value only a passkey sign-in satisfies.
	PhishingResistantACR string `json:"phishing_resistant_acr,omitempty"`
}

func (p *Passkeys) config() *authserver.PasskeysConfig {
	if p == nil {
		return nil
	}
	return &authserver.PasskeysConfig{
		Config: passkey.Config{RPID: p.RPID, Origins: p.Origins, RPName: p.RPName, ChallengeTTL: time.Duration(p.ChallengeTTL)},

		PhishingResistantACR: p.PhishingResistantACR,
	}
}

// parsePasskeys reads
//
//	passkeys {
//	    rp_id <domain>
//	    origins <origin...>
//	    rp_name <name>
//	    challenge_ttl <duration>
//	    phishing_resistant_acr <acr>
//	}
//
// (the block is optional: a bare passkeys line turns them on with the defaults).
func parsePasskeys(d *caddyfile.Dispenser) (*Passkeys, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	p := &Passkeys{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "rp_id":
			p.RPID, err = oneArg(d)
		case "origins":
			var more []string
			more, err = atLeastOneArg(d)
			p.Origins = append(p.Origins, more...)
		case "rp_name":
			p.RPName, err = oneArg(d)
		case "challenge_ttl":
			p.ChallengeTTL, err = durationArg(d)
		case "phishing_resistant_acr":
			p.PhishingResistantACR, err = oneArg(d)
		default:
			return nil, d.Errf("unknown passkeys subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// passkeyList is the body of GET /oauth/accounts/passkeys.
type passkeyList struct {
	Username string                   `json:"username"`
	Passkeys []authserver.PasskeyView `json:"passkeys"`
}

// handlePasskeys serves /oauth/accounts/passkeys?username=…[&issuer=…]: GET lists the
// account's passkeys (revoked ones included), DELETE with &id=… revokes one.
func (a *adminAPI) handlePasskeys(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	srv, err := a.issuer(q.Get("issuer"))
	if err != nil {
		return err
	}
	username := q.Get("username")
	switch r.Method {
	case http.MethodGet:
		views, err := srv.ListPasskeys(r.Context(), username)
		if err != nil {
			return accountError(err, http.StatusNotFound)
		}
		return writeJSON(w, http.StatusOK, passkeyList{Username: username, Passkeys: views})
	case http.MethodDelete:
		id := q.Get("id")
		if id == "" {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("id is required")}
		}
		if err := srv.RevokePasskey(r.Context(), username, id); err != nil {
			if errors.Is(err, authserver.ErrPasskeyNotFound) {
				return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
			}
			return accountError(err, http.StatusNotFound)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s", r.Method)}
	}
}

func passkeysURI(issuer, username, id string) string {
	q := url.Values{"username": {username}}
	if issuer != "" {
		q.Set("issuer", issuer)
	}
	if id != "" {
		q.Set("id", id)
	}
	return "/oauth/accounts/passkeys?" + q.Encode()
}
