package caddymodule

import "testing"

func TestPagesCaddyfile(t *testing.T) {
	tests := []struct{ name, input, want, wantErr string }{
		{name: "branding", input: "oauth_server {\n issuer https://a.example\n branding {\n name \"Acme Cloud\"\n logo https://cdn.acme.example/logo.svg\n accent \"#0a7\"\n privacy_uri https://acme.example/privacy\n terms_uri https://acme.example/terms\n home_uri https://acme.example/\n }\n consent_remember_default\n scope_description read de \"Ihre Dateien lesen\"\n scope_description read fr \"Lire vos fichiers\"\n resource_description https://a.example/api de \"Datei-API\"\n}",
			want: `{"issuer":"https://a.example","branding":{"name":"Acme Cloud","logo":"https://cdn.acme.example/logo.svg","accent":"#0a7","privacy_uri":"https://acme.example/privacy","terms_uri":"https://acme.example/terms","home_uri":"https://acme.example/"},"consent_remember_default":true,"scope_descriptions":{"read":{"de":"Ihre Dateien lesen","fr":"Lire vos fichiers"}},"resource_descriptions":{"https://a.example/api":{"de":"Datei-API"}}}`},
		{name: "client links", input: "oauth_server {\n issuer https://a.example\n client c {\n client_uri https://app.example/\n logo_uri https://app.example/logo.png\n policy_uri https://app.example/privacy\n tos_uri https://app.example/tos\n }\n}",
			want: `{"issuer":"https://a.example","clients":[{"client_id":"c","client_uri":"https://app.example/","logo_uri":"https://app.example/logo.png","policy_uri":"https://app.example/privacy","tos_uri":"https://app.example/tos"}]}`},
		{name: "client logo over http", input: "oauth_server {\n issuer https://a.example\n client c {\n logo_uri http://app.example/logo.png\n }\n}", wantErr: "logo_uri"},
		{name: "bad accent", input: "oauth_server {\n issuer https://a.example\n branding {\n accent tomato-ish\n }\n}", wantErr: "accent"},
		{name: "logo file missing", input: "oauth_server {\n issuer https://a.example\n branding {\n logo /nonexistent/logo.png\n }\n}", wantErr: "branding logo"},
		{name: "http home", input: "oauth_server {\n issuer https://a.example\n branding {\n home_uri http://acme.example/\n }\n}", wantErr: "home_uri"},
		{name: "unknown branding field", input: "oauth_server {\n issuer https://a.example\n branding {\n colour red\n }\n}", wantErr: `unknown branding subdirective "colour"`},
		{name: "branding twice", input: "oauth_server {\n issuer https://a.example\n branding {\n name A\n }\n branding {\n name B\n }\n}", wantErr: "declared twice"},
		{name: "scope_description arity", input: "oauth_server {\n issuer https://a.example\n scope_description read de\n}", wantErr: "want <scope> <language> <text>"},
		{name: "scope_description bad tag", input: "oauth_server {\n issuer https://a.example\n scope_description read deutsch! Lesen\n}", wantErr: "not a language tag"},
		{name: "scope_description twice", input: "oauth_server {\n issuer https://a.example\n scope_description read de A\n scope_description read de B\n}", wantErr: "declared twice"},
		{name: "consent_remember_default bad", input: "oauth_server {\n issuer https://a.example\n consent_remember_default maybe\n}", wantErr: "want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}
