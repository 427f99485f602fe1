package authserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// pathLogo is where the server serves a configured logo file, so the pages' img-src stays
// 'self'.
const pathLogo = "/branding/logo"

// logoFile is a configured logo, read once at start-up.
type logoFile struct {
	body        []byte
	contentType string
}

// setupPages loads the templates and applies the branding: the pages' renderer, and the logo
// file the server serves.
func (s *Server) setupPages() error {
	r, err := ui.New(s.cfg.TemplateDir)
	if err != nil {
		return fmt.Errorf("page templates: %w", err)
	}
	b := s.cfg.Branding
	if b.Logo != "" && !b.logoIsURL() {
		body, err := os.ReadFile(b.Logo)
		if err != nil {
			return fmt.Errorf("branding logo: %w", err)
		}
		if len(body) > MaxLogoSize {
			return fmt.Errorf("branding logo %s: larger than %d KiB", b.Logo, MaxLogoSize>>10)
		}
		s.logo = &logoFile{body: body, contentType: logoTypes[strings.ToLower(filepath.Ext(b.Logo))]}
	}
	if s.ui, err = r.WithBranding(b.uiBranding(s.basePath() + pathLogo)); err != nil {
		return fmt.Errorf("branding: %w", err)
	}
	return nil
}

// pagesRoutes adds the logo's route when there is a logo file.
func (s *Server) pagesRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.logo != nil {
		routes[base+pathLogo] = s.handleLogo
	}
}

// handleLogo serves the logo file. An SVG is sandboxed: it cannot run script even when
// opened on its own.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", s.logo.contentType)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(s.logo.body)
}

// pageLang is the language of a page: the request's ui_locales (kept with the interaction,
// or on the URL of the request that starts one) first, then Accept-Language.
func pageLang(r *http.Request, uiLocales string) string {
	if uiLocales == "" && r.Method == http.MethodGet {
		uiLocales = r.URL.Query().Get("ui_locales")
	}
	return ui.ChooseLanguage(uiLocales, r.Header.Get("Accept-Language"))
}

// pages is the renderer in the page's language, and that language's messages.
func (s *Server) pages(r *http.Request, uiLocales string) (*ui.Renderer, ui.Localizer) {
	return s.ui.For(pageLang(r, uiLocales))
}

// interactionLocales is the ui_locales of an interaction, "" without one.
func interactionLocales(in *interaction) string {
	if in == nil || in.Req == nil {
		return ""
	}
	return in.Req.UILocales
}

// clientInfo is the logo and links a client registered (RFC 7591 §2), as the pages show them.
func clientInfo(c *store.Client) ui.ClientInfo {
	if c == nil {
		return ui.ClientInfo{}
	}
	str := func(k string) string { v, _ := c.Metadata[k].(string); return v }
	return ui.ClientInfo{LogoURI: str("logo_uri"), URI: str("client_uri"), PolicyURI: str("policy_uri"), TosURI: str("tos_uri")}
}

// clientBack is the way back to a client: its client_uri, when it registered one.
func clientBack(c *store.Client) ui.Back {
	info := clientInfo(c)
	if info.URI == "" {
		return ui.Back{}
	}
	return ui.Back{URL: info.URI, Name: clientName(c)}
}

// lookupClientBack is clientBack for a client ID that may be unknown or empty.
func (s *Server) lookupClientBack(ctx context.Context, clientID string) ui.Back {
	if clientID == "" || len(clientID) > 1024 {
		return ui.Back{}
	}
	c, err := s.lookups.GetClient(ctx, clientID)
	if err != nil || c.Disabled {
		return ui.Back{}
	}
	return clientBack(c)
}

// showError renders an OAuth error for people, in the page's language: kind picks the plain
// explanation, back the way back (the client's client_uri, else the branding's home page),
// and the code and the description oautherr allows to be sent go to the technical details.
// Status 0 means 400.
func (s *Server) showError(w http.ResponseWriter, r *http.Request, status int, kind ui.ErrorKind, e *oautherr.Error, uiLocales string, back ui.Back) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	pages, _ := s.pages(r, uiLocales)
	page := ui.ErrorPage{Kind: kind, Back: back}
	if e != nil {
		page.Code, page.Description = e.Code, e.SafeDescription()
	}
	s.logRender(pages.Error(w, status, page))
}

// consentScopes describes scopes in the page's language: a configured description first,
// else the built-in one, else the scope's name.
func (s *Server) consentScopes(loc ui.Localizer, names []string) []ui.Scope {
	scopes := make([]ui.Scope, len(names))
	for i, n := range names {
		d := describedIn(s.cfg.ScopeDescriptions[n], loc.Tag())
		if d == "" {
			d = loc.DescribeScope(n)
		}
		scopes[i] = ui.Scope{Name: n, Description: d}
	}
	return scopes
}

// resourceName is a resource's name on the consent page: a configured description in the
// page's language, else its name.
func (s *Server) resourceName(loc ui.Localizer, id, name string) string {
	if d := describedIn(s.cfg.ResourceDescriptions[id], loc.Tag()); d != "" {
		return d
	}
	return name
}
