package authserver

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/text/language"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Branding is what the pages show of the product (see ui.Branding). Every field is optional.
type Branding struct {
	// Name is the product name, shown at the top of every page and in its title.
	Name string `json:"name,omitempty"`
	// Logo is a file (PNG, JPEG, GIF, WebP or SVG, at most MaxLogoSize) the server serves
	// itself at <issuer>/branding/logo, or an https URL.
	Logo string `json:"logo,omitempty"`
	// Accent is a CSS colour: #rgb, #rrggbb or rgb(r, g, b).
	Accent     string `json:"accent,omitempty"`
	PrivacyURI string `json:"privacy_uri,omitempty"`
	TermsURI   string `json:"terms_uri,omitempty"`
	// HomeURI is where error and signed-out pages lead when no application is known.
	HomeURI string `json:"home_uri,omitempty"`
}

// MaxLogoSize is the largest logo file the server serves.
const MaxLogoSize = 512 << 10

// logoTypes are the media types of the logo files the server serves, by extension.
var logoTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml",
}

// logoIsURL tells a logo URL from a file path.
func (b Branding) logoIsURL() bool { return strings.Contains(b.Logo, "://") }

// uiBranding is b as the pages show it, the logo file served at logoPath.
func (b Branding) uiBranding(logoPath string) ui.Branding {
	u := ui.Branding{Name: b.Name, Accent: b.Accent, PrivacyURI: b.PrivacyURI, TermsURI: b.TermsURI, HomeURI: b.HomeURI}
	switch {
	case b.Logo == "":
	case b.logoIsURL():
		u.LogoURL = b.Logo
	default:
		u.LogoURL = logoPath
	}
	return u
}

// Validate is the one check of the branding configuration (Caddyfile, JSON and admin API):
// ui.ValidateBranding for the names, colours and links, and a logo file that exists, is an
// image type the server serves and is not too large.
func (b Branding) Validate() error {
	if err := ui.ValidateBranding(b.uiBranding("/branding/logo")); err != nil {
		return err
	}
	if b.Logo == "" || b.logoIsURL() {
		return nil
	}
	if _, ok := logoTypes[strings.ToLower(filepath.Ext(b.Logo))]; !ok {
		return fmt.Errorf("branding logo %s: want a .png, .jpg, .gif, .webp or .svg file, or an https URL", b.Logo)
	}
	fi, err := os.Stat(b.Logo)
	switch {
	case err != nil:
		return fmt.Errorf("branding logo: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("branding logo %s: not a regular file", b.Logo)
	case fi.Size() > MaxLogoSize:
		return fmt.Errorf("branding logo %s: larger than %d KiB", b.Logo, MaxLogoSize>>10)
	}
	return nil
}

// pagesDefaults checks the configuration of the pages: branding and translated descriptions.
func (c *Config) pagesDefaults() error {
	if err := c.Branding.Validate(); err != nil {
		return err
	}
	for scope, byLang := range c.ScopeDescriptions {
		if !spec.ValidScopeToken(scope) {
			return fmt.Errorf("scope_description: %q is not a scope", scope)
		}
		if err := checkDescriptions("scope_description "+scope, byLang); err != nil {
			return err
		}
	}
	for id, byLang := range c.ResourceDescriptions {
		if err := spec.ValidateResourceIdentifier("resource_description", id); err != nil {
			return err
		}
		if err := checkDescriptions("resource_description "+id, byLang); err != nil {
			return err
		}
	}
	return nil
}

// checkDescriptions checks one scope's or resource's descriptions by language.
func checkDescriptions(what string, byLang map[string]string) error {
	if len(byLang) == 0 {
		return fmt.Errorf("%s: no description", what)
	}
	for lang, text := range byLang {
		if _, err := language.Parse(lang); err != nil {
			return fmt.Errorf("%s: %q is not a language tag (BCP 47, e.g. de or pt-BR)", what, lang)
		}
		if strings.TrimSpace(text) == "" || len(text) > 200 || strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 }) {
			return fmt.Errorf("%s %s: the text must have 1 to 200 characters and no control characters", what, lang)
		}
	}
	return nil
}

// describedIn picks the description of the page's language from byLang: the same tag, else
// one of the same base language (de-CH for de), else none.
func describedIn(byLang map[string]string, lang string) string {
	if d, ok := byLang[lang]; ok {
		return d
	}
	want, _ := language.Parse(lang)
	wantBase, _ := want.Base()
	// In tag order, so that de-AT and de-CH always give the same one for de.
	for _, tag := range slices.Sorted(maps.Keys(byLang)) {
		t, err := language.Parse(tag)
		if err != nil {
			continue
		}
		if b, _ := t.Base(); b == wantBase {
			return byLang[tag]
		}
	}
	return ""
}
