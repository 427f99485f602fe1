package ui

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Branding is what the pages show of the product: its name and logo at the top, the accent
// colour of buttons, links and focus rings, and links to its privacy and terms pages and home
// page at the bottom (and on error and signed-out pages as the way back). Every field is
// optional. Use ValidateBranding (or WithBranding, which calls it) before rendering.
type Branding struct {
	// Name is the product name: shown next to the logo and appended to page titles.
	Name string
	// LogoURL is the logo's address: a path on this server (the authorization server serves
	// a configured logo file itself, so the Content-Security-Policy img-src stays 'self') or
	// an absolute https URL, whose origin img-src then allows.
	LogoURL string
	// Accent is a CSS colour: #rgb, #rrggbb or rgb(r, g, b).
	Accent     string
	PrivacyURI string
	TermsURI   string
	// HomeURI is the product's home page: the way back from an error or the signed-out page
	// when no application is known.
	HomeURI string
}

// ValidateBranding checks b: links are absolute https URLs (http only on loopback, for
// development), the logo an https URL or an absolute path, the accent a CSS colour.
func ValidateBranding(b Branding) error {
	if len(b.Name) > 100 || strings.ContainsFunc(b.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("branding name: at most 100 characters, no control characters")
	}
	if b.LogoURL != "" {
		if strings.HasPrefix(b.LogoURL, "/") && !strings.HasPrefix(b.LogoURL, "//") {
			if _, err := url.Parse(b.LogoURL); err != nil {
				return fmt.Errorf("branding logo: %w", err)
			}
		} else if err := webURL(b.LogoURL, false); err != nil {
			return fmt.Errorf("branding logo: %w", err)
		}
	}
	if b.Accent != "" {
		if _, err := ParseColor(b.Accent); err != nil {
			return fmt.Errorf("branding accent: %w", err)
		}
	}
	for name, v := range map[string]string{"privacy_uri": b.PrivacyURI, "terms_uri": b.TermsURI, "home_uri": b.HomeURI} {
		if v == "" {
			continue
		}
		if err := webURL(v, true); err != nil {
			return fmt.Errorf("branding %s: %w", name, err)
		}
	}
	return nil
}

// webURL accepts an absolute https URL, and http on a loopback host when loopback is set.
func webURL(v string, loopback bool) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute https URL", v)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q is not an absolute https URL", v)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// RGB is a colour with 8-bit channels.
type RGB struct{ R, G, B uint8 }

// Hex is the colour as #rrggbb.
func (c RGB) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// ParseColor reads a CSS colour: #rgb, #rrggbb, rgb(r, g, b) or rgb(r g b) with 0–255 or
// percentage channels. Named colours and alpha are refused: the pages compute readable text
// colours against the accent, which needs an opaque, exact colour.
func ParseColor(s string) (RGB, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	bad := fmt.Errorf("%q is not a CSS colour (#rgb, #rrggbb or rgb(r, g, b))", s)
	if hex, ok := strings.CutPrefix(s, "#"); ok {
		if len(hex) == 3 {
			hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
		}
		if len(hex) != 6 {
			return RGB{}, bad
		}
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return RGB{}, bad
		}
		return RGB{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
	}
	inner, ok := strings.CutPrefix(s, "rgb(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return RGB{}, bad
	}
	parts := strings.FieldsFunc(strings.TrimSuffix(inner, ")"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(parts) != 3 {
		return RGB{}, bad
	}
	var ch [3]uint8
	for i, p := range parts {
		pct := strings.HasSuffix(p, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(p, "%"), 64)
		if err != nil || f < 0 || (pct && f > 100) || (!pct && f > 255) {
			return RGB{}, bad
		}
		if pct {
			f = f * 255 / 100
		}
		ch[i] = uint8(math.Round(f))
	}
	return RGB{ch[0], ch[1], ch[2]}, nil
}

// luminance is the WCAG 2 relative luminance.
func (c RGB) luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG 2 contrast ratio of a and b.
func contrast(a, b RGB) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// The layout's card backgrounds and text colours, light and dark (layout.html).
var (
	lightCard = RGB{0xff, 0xff, 0xff}
	darkCard  = RGB{0x15, 0x1b, 0x23}
	white     = RGB{0xff, 0xff, 0xff}
	// defaultLightLink and defaultDarkLink are the layout's link colours.
	defaultLightLink = "#0969da"
	defaultDarkLink  = "#4493f8"
	black            = RGB{0, 0, 0}
)

// accentCSS is the stylesheet that applies an accent colour: buttons take it with whichever
// of white or black text reads better on it; links and focus rings take it only in a
// colour scheme where it reads against the page (WCAG AA, 4.5:1), else keep the default.
func accentCSS(accent string) template.CSS {
	c, err := ParseColor(accent)
	if err != nil {
		return ""
	}
	fg := white
	if contrast(c, black) > contrast(c, white) {
		fg = black
	}
	buttons := fmt.Sprintf("--accent:%s;--accent-fg:%s", c.Hex(), fg.Hex())
	// This stylesheet comes after the layout's, whose dark-scheme block it would override:
	// each scheme's link and focus colour is therefore set here, the accent or the default.
	link := func(card RGB, def string) string {
		if contrast(c, card) >= 4.5 {
			return ";--link:" + c.Hex() + ";--focus:" + c.Hex()
		}
		return ";--link:" + def + ";--focus:" + def
	}
	css := ":root{" + buttons + link(lightCard, defaultLightLink) + "}" +
		"@media (prefers-color-scheme:dark){:root{" + buttons + link(darkCard, defaultDarkLink) + "}}"
	return template.CSS(css) // only hex digits from ParseColor: nothing to escape
}

// brand is what the layout reads of the branding ($.Brand).
type brand struct {
	Branding
	// CSS applies the accent; empty keeps the default colours.
	CSS template.CSS
}

// WithBranding returns a Renderer that shows b on every page. It fails when b is invalid.
func (r *Renderer) WithBranding(b Branding) (*Renderer, error) {
	if err := ValidateBranding(b); err != nil {
		return nil, err
	}
	c := *r
	c.brand = brand{Branding: b, CSS: accentCSS(b.Accent)}
	if src, ok := cspSource(b.LogoURL); ok && strings.HasPrefix(src, "https://") {
		c.logoSource = src
	} else {
		c.logoSource = ""
	}
	return &c, nil
}

// ClientInfo is what a page shows of the application asking: its registered logo_uri,
// client_uri, policy_uri and tos_uri (RFC 7591 §2), all already validated as https URLs.
type ClientInfo struct {
	LogoURI   string
	URI       string
	PolicyURI string
	TosURI    string
}

// imageSources are the img-src sources a page needs for the client logo besides 'self'.
func (c ClientInfo) imageSources() []string {
	if src, ok := cspSource(c.LogoURI); ok && strings.HasPrefix(src, "https://") {
		return []string{src}
	}
	return nil
}
