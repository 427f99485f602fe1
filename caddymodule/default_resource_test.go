package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDefaultResourceThroughCaddy: a client's default_resource in a real Caddyfile reaches the
// token endpoint. A client linked to two resources gets a token for its default without naming
// one; a client without a default is told what to do.
func TestDefaultResourceThroughCaddy(t *testing.T) {
	const multiSecret = "Df4Rs8Lt2Qx6Vb0Nk3Jd7Hf1Gc5Ta9Ye2Wp6Zo0Ui4S"
	tc := newTestCaddy(t)
	extra := `client multi {
			secret ` + multiSecret + `
			scopes read
			resources ` + tc.issuer + `/api ` + tc.issuer + `/opaque-api
			default_resource ` + tc.issuer + `/api
		}`
	if err := tc.load(t, tc.caddyfile(t, tc.storage(), extra)); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	status, body := postForm(t, tc.issuer+"/token", "multi", multiSecret, form)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("token without resource: %d %s", status, body)
	}
	if claims := verifyJWT(t, out.AccessToken, tc.issuer+"/jwks"); !claims.Audience.Contains(tc.issuer + "/api") {
		t.Errorf("aud = %v, want the default resource", claims.Audience)
	}

	status, body = postForm(t, tc.issuer+"/token", "demo-service", testSecret, form)
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error != "invalid_target" ||
		!strings.Contains(e.Description, "configure default_resource") {
		t.Fatalf("no default: %d %s", status, body)
	}
}
