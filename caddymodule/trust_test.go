package caddymodule

import "testing"

func TestCaddyfileTrustedIssuersAndTokenExchange(t *testing.T) {
	const head = "oauth_server {\n issuer https://a.example\n "
	const jwks = "`{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}`"
	tests := []struct {
		name, input, want, wantErr string
	}{
		{name: "issuer with jwt_bearer, and an exchange rule",
			input: head + "trusted_issuer https://idp.example {\n jwks_uri https://idp.example/jwks\n algs ES256\n jwt_bearer {\n subject account\n clients partner\n scopes read\n resources https://api.example\n max_lifetime 10m\n }\n }\n" +
				" token_exchange {\n rule {\n clients gw\n subject_issuers self https://idp.example\n resources https://api.example\n scopes read\n actor required\n }\n }\n}",
			want: `{"issuer":"https://a.example","trusted_issuers":[{"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks","algs":["ES256"],` +
				`"jwt_bearer":{"subject":"account","clients":["partner"],"scopes":["read"],"resources":["https://api.example"],"max_lifetime":600000000000}}],` +
				`"token_exchange":{"rules":[{"clients":["gw"],"subject_issuers":["self","https://idp.example"],"resources":["https://api.example"],"scopes":["read"],"actor":"required"}]}}`},
		{name: "inline jwks", input: head + "trusted_issuer https://idp.example {\n jwks " + jwks + "\n }\n}",
			want: `{"issuer":"https://a.example","trusted_issuers":[{"issuer":"https://idp.example","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}]}`},
		{name: "no keys", input: head + "trusted_issuer https://idp.example\n}", wantErr: "exactly one of jwks and jwks_uri"},
		{name: "jwks not JSON", input: head + "trusted_issuer https://idp.example {\n jwks nope\n }\n}", wantErr: "JSON JWK Set"},
		{name: "hmac alg", input: head + "trusted_issuer https://idp.example {\n jwks_uri https://idp.example/jwks\n algs HS256\n }\n}", wantErr: "HS256"},
		{name: "bearer without clients", input: head + "trusted_issuer https://idp.example {\n jwks_uri https://idp.example/jwks\n jwt_bearer {\n subject account\n }\n }\n}",
			wantErr: "name the clients"},
		{name: "bearer with a bad subject", input: head + "trusted_issuer https://idp.example {\n jwks_uri https://idp.example/jwks\n jwt_bearer {\n subject email\n }\n }\n}",
			wantErr: "subject"},
		{name: "rule of an unknown issuer", input: head + "token_exchange {\n rule {\n clients gw\n subject_issuers https://idp.example\n }\n }\n}",
			wantErr: "neither self nor a trusted_issuer"},
		{name: "rule without clients", input: head + "token_exchange {\n rule {\n scopes read\n }\n }\n}", wantErr: "name the clients"},
		{name: "not a rule", input: head + "token_exchange {\n clients gw\n }\n}", wantErr: "want rule"},
		{name: "token_exchange twice", input: head + "token_exchange {\n }\n token_exchange {\n }\n}", wantErr: "set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}
