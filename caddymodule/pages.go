package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver"
)

// parseBranding reads
//
//	branding {
//		name        <product name>
//		logo        <file or https URL>
//		accent      <CSS colour>
//		privacy_uri <https URL>
//		terms_uri   <https URL>
//		home_uri    <https URL>
//	}
//
// authserver.Branding.Validate checks the values.
func parseBranding(d *caddyfile.Dispenser) (*authserver.Branding, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := &authserver.Branding{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			b.Name, err = oneArg(d)
		case "logo":
			b.Logo, err = oneArg(d)
		case "accent":
			b.Accent, err = oneArg(d)
		case "privacy_uri":
			b.PrivacyURI, err = oneArg(d)
		case "terms_uri":
			b.TermsURI, err = oneArg(d)
		case "home_uri":
			b.HomeURI, err = oneArg(d)
		default:
			return nil, d.Errf("unknown branding subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// parseDescription reads `<directive> <scope or resource> <language> <text>` into m
// (authserver checks the scope, the resource, the language tag and the text).
func parseDescription(d *caddyfile.Dispenser, m *map[string]map[string]string) error {
	name := d.Val()
	var subject, lang, text string
	if !d.AllArgs(&subject, &lang, &text) {
		return d.Errf("%s: want <%s> <language> <text>", name, map[bool]string{true: "scope", false: "resource"}[name == "scope_description"])
	}
	if *m == nil {
		*m = map[string]map[string]string{}
	}
	if (*m)[subject] == nil {
		(*m)[subject] = map[string]string{}
	}
	if _, dup := (*m)[subject][lang]; dup {
		return d.Errf("%s %s %s: declared twice", name, subject, lang)
	}
	(*m)[subject][lang] = text
	return nil
}
