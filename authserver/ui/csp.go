package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// policy is what one page's Content-Security-Policy allows beyond the fixed directives.
type policy struct {
	// formAction are the form-action sources ('self' and the client's origins).
	formAction []string
	// frames are the frame-src sources; none: the page frames nothing (default-src 'none').
	frames []string
	// script allows the page's inline <script> with the response's nonce.
	script bool
	// images are img-src sources besides 'self' and data: (https logo origins).
	images []string
}

// setHeaders sets the security headers of every HTML response. The nonce allows the
// layout's inline <style> (and, with script, the page's inline <script>) and nothing else.
func setHeaders(h http.Header, nonce string, p policy) {
	var csp strings.Builder
	csp.WriteString("default-src 'none'; ")
	if p.script {
		csp.WriteString("script-src 'nonce-" + nonce + "'; ")
	}
	if len(p.frames) > 0 {
		csp.WriteString("frame-src " + strings.Join(p.frames, " ") + "; ")
	}
	csp.WriteString("style-src 'nonce-" + nonce + "'; img-src 'self' data:")
	for _, s := range p.images {
		csp.WriteString(" " + s)
	}
	csp.WriteString("; form-action")
	for _, s := range p.formAction {
		csp.WriteString(" " + s)
	}
	csp.WriteString("; frame-ancestors 'none'; base-uri 'none'")

	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp.String())
}

// formActionSources returns 'self' followed by the CSP sources for the origins of urls,
// deduplicated, skipping anything that is not an absolute URL with a safe origin.
func formActionSources(urls []string) []string {
	sources := []string{"'self'"}
	seen := make(map[string]bool, len(urls))
	for _, u := range urls {
		s, ok := cspSource(u)
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		sources = append(sources, s)
	}
	return sources
}

// blockedSchemes must never become a form-action source: they run script or read
// local data rather than reach a client.
var blockedSchemes = map[string]bool{
	"javascript": true, "data": true, "blob": true, "filesystem": true, "file": true, "about": true,
}

// cspSource returns the CSP source expression for raw's origin: scheme://host[:port] for
// http(s), and scheme: for a private-use scheme (RFC 8252 native-app redirect URIs).
// Every character is checked because the result is spliced into a header where ';', ','
// or a space would start a new directive.
func cspSource(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !validScheme(u.Scheme) {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case blockedSchemes[scheme]:
		return "", false
	case scheme == "http" || scheme == "https":
		if !validHost(u.Host) {
			return "", false
		}
		return scheme + "://" + strings.ToLower(u.Host), true
	default:
		// CSP cannot narrow a private-use scheme further than the scheme itself.
		return scheme + ":", true
	}
}

// validScheme follows RFC 3986 §3.1.
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validHost accepts a DNS name or IP literal with an optional port; no wildcards,
// no CSP metacharacters.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !isAlpha(c) && !isDigit(c) && !strings.ContainsRune("-.:[]_", rune(c)) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
