package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/trust"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// CIBA (package ciba): the backchannel authentication endpoint and the request's lifecycle
// live there; this file finds the user a hint names, lets the user approve on the server's
// pages (the code flow's sign-in and a consent page showing the binding message) or an
// operator through the admin API, mints the tokens and hands ping and push notifications to
// the package's deliverer.

const (
	// pathBackchannelAuthentication is the backchannel authentication endpoint (CIBA §7).
	pathBackchannelAuthentication = "/bc-authorize"
	// pathCIBA is the approval page: ?request=<id> for one request, else the signed-in
	// user's pending ones.
	pathCIBA = "/ciba"
)

// CIBAConfig configures CIBA; it is off unless Enabled.
type CIBAConfig struct {
	Enabled bool
	ciba.Config
	// Notifier, when set, is a URL that receives a JSON description of every new request (no
	// secret in it), so another system can ask the user: a push notification, a text message.
	Notifier string
}

func (c *CIBAConfig) withDefaults() error {
	if !c.Enabled {
		return nil
	}
	var err error
	if c.Config, err = c.Config.WithDefaults(); err != nil {
		return err
	}
	if c.Notifier != "" {
		if u, err := url.Parse(c.Notifier); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("ciba notifier %q: want an http(s) URL", c.Notifier)
		}
	}
	return nil
}

// cibaMetadata are CIBA's discovery fields (CIBA Core §4).
type cibaMetadata struct {
	BackchannelAuthenticationEndpoint     string   `json:"backchannel_authentication_endpoint,omitempty"`
	BackchannelTokenDeliveryModes         []string `json:"backchannel_token_delivery_modes_supported,omitempty"`
	BackchannelUserCodeParameterSupported *bool    `json:"backchannel_user_code_parameter_supported,omitempty"`
}

func (s *Server) cibaDiscovery() cibaMetadata {
	if s.ciba == nil {
		return cibaMetadata{}
	}
	no := false
	return cibaMetadata{BackchannelAuthenticationEndpoint: s.endpoint(pathBackchannelAuthentication),
		BackchannelTokenDeliveryModes: s.cfg.CIBA.DeliveryModes, BackchannelUserCodeParameterSupported: &no}
}

// setupCIBA builds the endpoint and the deliverer when CIBA is on.
func (s *Server) setupCIBA() {
	if !s.cfg.CIBA.Enabled {
		return
	}
	s.ciba = &ciba.Endpoint{Core: cibaCore{s}, Store: s.st, Cfg: s.cfg.CIBA.Config, Now: s.now, Log: s.log.Named("ciba"), Unavailable: s.unavailable}
	s.cibaDelivery = &ciba.Deliverer{Store: s.st, Open: s.openSealed, Now: s.now, Log: s.log.Named("ciba"),
		OnOutcome: func(result string) { s.observer.Delivery("ciba", result) },
		Fetcher:   outbound.New(outbound.Options{AllowPrivate: s.cfg.OutboundAllowPrivate, Timeout: 10 * time.Second, MaxBytes: 64 << 10}),
		Endpoint: func(ctx context.Context, clientID string) (string, error) {
			c, err := s.lookups.GetClient(ctx, clientID)
			if err != nil {
				return "", err
			}
			return c.Security.BackchannelClientNotificationEndpoint, nil
		}}
}

func (s *Server) cibaRoutes(routes map[string]http.HandlerFunc, base string) {
	if s.ciba == nil {
		return
	}
	routes[base+pathBackchannelAuthentication] = s.ciba.ServeHTTP
	routes[base+pathCIBA] = s.handleCIBAPage
}

func (s *Server) openSealed(sealed []byte) ([]byte, error) {
	return s.deps.Sealer.Open(sealed, []byte("caddy-oauth ciba v1"))
}

// cibaGrant redeems an approved request (CIBA Core §10.1, poll and ping modes).
func (s *Server) cibaGrant(ctx context.Context, r *http.Request, client *store.Client) (*tokenResponse, error) {
	id := formValue(r.PostForm, "auth_req_id")
	if _, err := s.ciba.Poll(ctx, client, id); err != nil {
		return nil, err
	}
	proof, err := s.tokenProof(r, client.DPoPBoundAccessTokens)
	if err != nil {
		return nil, err
	}
	if err := s.recordTokenProof(ctx, proof); err != nil {
		return nil, err
	}
	req, err := s.ciba.Redeem(ctx, id)
	if err != nil {
		return nil, err
	}
	resp, _, err := s.cibaTokens(ctx, r, client, req, proofJKT(proof))
	return resp, err
}

// cibaTokens mints the tokens of an approved request: a grant of its own (not tied to a
// browser session) and the code flow's tokens for it.
func (s *Server) cibaTokens(ctx context.Context, r *http.Request, client *store.Client, req *store.CIBARequest, jkt string) (*tokenResponse, *store.Grant, error) {
	acc, err := s.accounts.Account(ctx, req.Subject)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
		return nil, nil, oautherr.New(oautherr.InvalidGrant, "the account is no longer active")
	} else if err != nil {
		return nil, nil, err
	}
	now := s.now()
	g := &store.Grant{ID: newJTI(), ClientID: client.ID, Subject: req.Subject, Scopes: req.Scopes, Resources: req.Resources,
		AuthTime: req.AuthTime, AMR: req.AMR, ACR: req.ACR, CreatedAt: now, ExpiresAt: now.Add(s.grantTTL(ctx, req.Resources))}
	if client.TokenEndpointAuthMethod == "none" {
		g.JKT = jkt
	}
	if err := s.st.CreateGrant(ctx, g); err != nil {
		return nil, nil, err
	}
	resp, refresh, err := s.issueUserTokens(ctx, r, client, g, acc, g.Scopes, "", jkt)
	if err != nil {
		return nil, nil, err
	}
	if refresh != nil {
		if err := s.st.CreateRefreshToken(ctx, refresh); err != nil {
			return nil, nil, err
		}
	}
	return resp, g, nil
}

// decideCIBA records a decision. A push client's tokens are minted now and sealed into the
// notification; a ping client is told to come and fetch them. approver is the signed-in user
// who approved (nil: denied, or approved through the admin API).
func (s *Server) decideCIBA(ctx context.Context, req *store.CIBARequest, approved bool, approver *userSession) error {
	client, err := s.lookups.GetClient(ctx, req.ClientID)
	if err != nil {
		return err
	}
	dec := store.CIBADecision{DeviceDecision: store.DeviceDecision{Approved: approved}}
	if approved {
		dec.AuthTime = s.now()
		if approver != nil {
			dec.AuthTime, dec.AMR = approver.AuthTime, approver.AMR
		}
		for _, v := range req.ACRValues {
			if s.acrSatisfied(v, dec.AMR) {
				dec.ACR = v
				break
			}
		}
	}
	var grant *store.Grant
	switch req.Mode {
	case ciba.ModePing:
		dec.NotifyAt = s.now()
	case ciba.ModePush:
		body := map[string]any{"error": oautherr.AccessDenied, "error_description": "the user denied the authentication request"}
		if approved {
			decided := *req
			decided.AuthTime, decided.AMR, decided.ACR = dec.AuthTime, dec.AMR, dec.ACR
			var resp *tokenResponse
			if resp, grant, err = s.pushTokens(ctx, client, &decided); err != nil {
				return err
			}
			raw, _ := json.Marshal(resp)
			body = nil
			_ = json.Unmarshal(raw, &body)
		}
		raw, _ := json.Marshal(body)
		if dec.Payload, err = s.deps.Sealer.Seal(raw, []byte("caddy-oauth ciba v1")); err != nil {
			return err
		}
		dec.NotifyAt = s.now()
	}
	if _, err := s.st.DecideCIBARequest(ctx, req.ID, dec, s.now()); err != nil {
		if grant != nil {
			_ = s.revokeGrant(ctx, grant.ID) // decided elsewhere meanwhile: these tokens go nowhere
		}
		return err
	}
	s.log.Info("backchannel authentication decided", zap.String("request", req.ID), zap.String("client_id", req.ClientID),
		zap.Bool("approved", approved))
	if !dec.NotifyAt.IsZero() {
		s.cibaDelivery.Wake()
	}
	return nil
}

// pushTokens mints a push client's tokens; the ID token also names the request and hashes
// the refresh token (CIBA Core §10.3.1).
func (s *Server) pushTokens(ctx context.Context, client *store.Client, req *store.CIBARequest) (*tokenResponse, *store.Grant, error) {
	synthetic, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint(pathToken), nil)
	synthetic.PostForm = url.Values{}
	resp, g, err := s.cibaTokens(ctx, synthetic, client, req, "")
	if err != nil || resp.IDToken == "" {
		return resp, g, err
	}
	// The request's auth_req_id is only in the sealed notification: read it back.
	plain, err := s.openSealed(req.NotificationToken)
	if err != nil {
		return nil, g, err
	}
	var n ciba.Notification
	if err := json.Unmarshal(plain, &n); err != nil {
		return nil, g, err
	}
	resp.IDToken, err = s.issueIDTokenWith(ctx, client, g, nil, "", resp.AccessToken, idTokenExtra{AuthReqID: n.AuthReqID, RefreshToken: resp.RefreshToken})
	return resp, g, err
}

// DecideCIBA approves or denies the pending CIBA request id for an operator or another
// system (the admin API): the user was asked elsewhere. ErrNotFound when there is no such
// pending request.
func (s *Server) DecideCIBA(ctx context.Context, id string, approve bool) error {
	if s.ciba == nil {
		return errors.New("CIBA is off")
	}
	req, err := s.st.GetCIBARequest(ctx, id)
	if err != nil {
		return err
	}
	if req.Status != store.DevicePending || !s.now().Before(req.ExpiresAt) {
		return store.ErrNotFound
	}
	return s.decideCIBA(ctx, req, approve, nil)
}

// cibaCore is the authorization server as package ciba sees it.
type cibaCore struct{ s *Server }

func (c cibaCore) ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if err := parsePostForm(w, r); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

func (c cibaCore) AuthenticateClient(r *http.Request) (*store.Client, error) {
	client, err := c.s.authenticateClient(r, pathBackchannelAuthentication)
	if err == nil && client.TokenEndpointAuthMethod == "none" {
		// CIBA Core §7.1: the client is authenticated; a public client cannot be.
		return nil, oautherr.New(oautherr.UnauthorizedClient, "a public client cannot use CIBA")
	}
	return client, err
}

func (c cibaCore) Mode(client *store.Client) (string, string) {
	mode := client.Security.BackchannelTokenDeliveryMode
	if mode == "" {
		mode = ciba.ModePoll
	}
	return mode, client.Security.BackchannelClientNotificationEndpoint
}

func (c cibaCore) Seal(plain []byte) ([]byte, error) {
	return c.s.deps.Sealer.Seal(plain, []byte("caddy-oauth ciba v1"))
}

// Resolve checks scope (openid required, CIBA Core §7.1) and resources as at /authorize and
// finds the user: exactly one of login_hint (a username), id_token_hint (an ID token this
// server issued to the client) and login_hint_token (a JWT of a trusted issuer whose sub is
// an account's subject).
func (c cibaCore) Resolve(ctx context.Context, client *store.Client, params url.Values) (*ciba.Request, error) {
	scopes, resources, err := c.s.requestedAccess(ctx, client, params)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(scopes, "openid") {
		return nil, oautherr.Request("scope must include openid")
	}
	hints := 0
	for _, h := range []string{"login_hint", "id_token_hint", "login_hint_token"} {
		if params.Get(h) != "" {
			hints++
		}
	}
	if hints != 1 {
		return nil, oautherr.Request("send exactly one of login_hint, id_token_hint and login_hint_token")
	}
	subject, err := c.subject(ctx, client, params)
	if err != nil {
		return nil, err
	}
	return &ciba.Request{Subject: subject, Scopes: scopes, Resources: resources,
		ACRValues: strings.Fields(params.Get("acr_values")), BindingMessage: params.Get("binding_message")}, nil
}

var unknownUser = oautherr.New(ciba.UnknownUserID, "the hint does not name a user of this server")

func (c cibaCore) subject(ctx context.Context, client *store.Client, params url.Values) (string, error) {
	s := c.s
	var local string
	switch {
	case params.Get("login_hint") != "":
		acc, err := s.st.GetAccountByUsername(ctx, account.NormalizeUsername(params.Get("login_hint")))
		if errors.Is(err, store.ErrNotFound) {
			return "", unknownUser
		} else if err != nil {
			return "", err
		}
		local = acc.Subject
	case params.Get("id_token_hint") != "":
		sub, err := s.idTokenHintSubject(params.Get("id_token_hint"), client.ID)
		if err != nil {
			return "", oautherr.Request("id_token_hint is not a valid ID token issued by this server to this client")
		}
		var ok bool
		if local, ok = s.localSubject(client, sub); !ok {
			return "", unknownUser
		}
	default:
		tok, err := s.trusted.Verify(ctx, params.Get("login_hint_token"))
		switch {
		case errors.Is(err, trust.ErrInvalid) && strings.Contains(err.Error(), "expired"):
			return "", oautherr.New(ciba.ExpiredLoginHintToken, "login_hint_token has expired")
		case err != nil:
			return "", oautherr.Request("login_hint_token is not a valid JWT of a trusted issuer")
		case !tok.HasAudience(s.cfg.Issuer):
			return "", oautherr.Request("login_hint_token's aud must name this server")
		}
		local = tok.Subject
	}
	if _, err := s.accounts.Account(ctx, local); errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
		return "", unknownUser
	} else if err != nil {
		return "", err
	}
	return local, nil
}

// Started tells the configured notifier of a new request, in the background: the request
// stands whether or not the notifier answers (the user may also open the approval page).
func (c cibaCore) Started(ctx context.Context, client *store.Client, r *store.CIBARequest) {
	s := c.s
	if s.cfg.CIBA.Notifier == "" {
		return
	}
	username := ""
	if acc, err := s.accounts.Account(ctx, r.Subject); err == nil {
		username = acc.Username
	}
	body, _ := json.Marshal(map[string]any{
		"request": r.ID, "client_id": client.ID, "client_name": clientName(client), "subject": r.Subject, "username": username,
		"binding_message": r.BindingMessage, "scope": strings.Join(r.Scopes, " "), "expires_at": r.ExpiresAt.Unix(),
		"approval_uri": s.endpoint(pathCIBA) + "?" + url.Values{"request": {r.ID}}.Encode(),
	})
	go func() {
		f := outbound.New(outbound.Options{AllowPrivate: s.cfg.OutboundAllowPrivate, Timeout: 10 * time.Second, MaxBytes: 16 << 10})
		for attempt := range 3 {
			reply, err := f.Send(context.Background(), http.MethodPost, s.cfg.CIBA.Notifier, http.Header{"Content-Type": {"application/json"}}, body)
			if err == nil && reply.Status >= 200 && reply.Status < 300 {
				return
			}
			if err == nil {
				err = fmt.Errorf("status %d", reply.Status)
			}
			s.log.Warn("CIBA notifier failed", zap.String("request", r.ID), zap.Int("attempt", attempt+1), zap.Error(err))
			time.Sleep(time.Second << attempt)
		}
	}()
}

// cibaInteraction marks an interaction that answers a CIBA request.
type cibaInteraction struct {
	ID             string `json:"id"`
	Subject        string `json:"sub"`
	BindingMessage string `json:"binding_message,omitempty"`
}

// handleCIBAPage: ?request=<id> starts the sign-in (as the user the request names) and the
// consent page for it; without, the signed-in user's pending requests are listed.
func (s *Server) handleCIBAPage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	id := r.URL.Query().Get("request")
	if id == "" {
		s.renderCIBAList(w, r)
		return
	}
	req, err := s.st.GetCIBARequest(ctx, id)
	if err != nil || req.Status != store.DevicePending || !s.now().Before(req.ExpiresAt) {
		s.renderDeviceResult(w, r, http.StatusBadRequest, ui.DeviceResultPage{Outcome: ui.DeviceExpired, Backchannel: true})
		return
	}
	client, err := s.lookups.GetClient(ctx, req.ClientID)
	if err != nil || client.Disabled {
		s.renderDeviceResult(w, r, http.StatusBadRequest, ui.DeviceResultPage{Outcome: ui.DeviceExpired, Backchannel: true})
		return
	}
	username := ""
	if acc, err := s.accounts.Account(ctx, req.Subject); err == nil {
		username = acc.Username
	}
	areq := &authRequest{ClientID: client.ID, Scopes: req.Scopes, Resources: req.Resources, Prompt: []string{"consent"},
		LoginHint: username, ACRValues: req.ACRValues}
	exp := s.now().Add(s.cfg.InteractionTTL)
	if req.ExpiresAt.Before(exp) {
		exp = req.ExpiresAt
	}
	in := &interaction{ID: newJTI(), Req: areq, Exp: exp.Unix(),
		CIBA: &cibaInteraction{ID: req.ID, Subject: req.Subject, BindingMessage: req.BindingMessage}}
	s.proceed(w, r, client, in, false)
}

// finishCIBA records the signed-in user's answer; sess nil means denied.
func (s *Server) finishCIBA(w http.ResponseWriter, r *http.Request, in *interaction, sess *userSession) {
	ctx := r.Context()
	req, err := s.st.GetCIBARequest(ctx, in.CIBA.ID)
	if err == nil && (req.Status != store.DevicePending || !s.now().Before(req.ExpiresAt)) {
		err = store.ErrNotFound
	}
	if err == nil {
		err = s.decideCIBA(ctx, req, sess != nil, sess)
	}
	outcome := ui.DeviceDenied
	if sess != nil {
		outcome = ui.DeviceApproved
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.renderDeviceResult(w, r, http.StatusBadRequest, ui.DeviceResultPage{Outcome: ui.DeviceExpired, Backchannel: true})
	case err != nil:
		s.authFail(w, r, &authError{err: oautherr.Server(err)})
	default:
		s.renderDeviceResult(w, r, http.StatusOK, ui.DeviceResultPage{Outcome: outcome, Backchannel: true})
	}
}

// cibaWrongUser reports whether the signed-in user is not the one the CIBA request asks.
func cibaWrongUser(in *interaction, sess *userSession) bool {
	return in.CIBA != nil && sess != nil && sess.Subject != in.CIBA.Subject
}

func (s *Server) renderCIBAList(w http.ResponseWriter, r *http.Request) {
	page := ui.CIBAListPage{}
	sess, err := s.currentSession(r.Context(), r)
	if err != nil {
		s.authFail(w, r, &authError{err: oautherr.Server(err)})
		return
	}
	if sess != nil {
		page.Account = sess.account.Username
		reqs, err := s.st.ListCIBARequests(r.Context(), sess.Subject, s.now())
		if err != nil {
			s.authFail(w, r, &authError{err: oautherr.Server(err)})
			return
		}
		for _, q := range reqs {
			name := q.ClientID
			if c, err := s.lookups.GetClient(r.Context(), q.ClientID); err == nil {
				name = clientName(c)
			}
			page.Requests = append(page.Requests, ui.CIBARequest{ClientName: name, BindingMessage: q.BindingMessage,
				Link: s.endpoint(pathCIBA) + "?" + url.Values{"request": {q.ID}}.Encode()})
		}
	}
	pages, _ := s.pages(r, "")
	s.logRender(pages.CIBAList(w, http.StatusOK, page))
}
