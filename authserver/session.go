package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Cookies of the end-user flows. Both are host-only (no Domain), HttpOnly and SameSite=Lax,
// and Secure unless the issuer is plain http on loopback (development).
const (
	sessionCookie = "oauth_session"
	csrfCookie    = "oauth_csrf"
)

// cookieName adds the __Host- prefix where the browser allows it (https, Path=/), which stops
// a sibling subdomain from planting the cookie.
func (s *Server) cookieName(base string) string {
	if s.secureCookies() && s.basePath() == "" {
		return "__Host-" + base
	}
	return base
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.cfg.Issuer, "https://") }

func (s *Server) cookiePath() string { return s.basePath() + "/" }

func (s *Server) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     s.cookieName(base),
		Value:    value,
		Path:     s.cookiePath(),
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func (s *Server) cookieValue(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// userSession is a live login session with its account.
type userSession struct {
	*store.Session
	account *store.Account
}

// currentSession returns the browser's live session, or nil: no cookie, unknown or forged
// secret, expired, idle too long, or an account that is gone or disabled. Only store
// failures are errors.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (*userSession, error) {
	id, secret, ok := strings.Cut(s.cookieValue(r, sessionCookie), ".")
	if !ok || id == "" || secret == "" || len(id) > 64 || len(secret) > 64 {
		return nil, nil
	}
	sess, err := s.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(sess.SecretHash)) != 1 {
		return nil, nil
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || (s.cfg.SessionIdleTTL > 0 && now.Sub(sess.LastSeenAt) > s.cfg.SessionIdleTTL) {
		return nil, nil
	}
	acc, err := s.accounts.Account(ctx, sess.Subject)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) || (err == nil && acc.Disabled) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	// Idle tracking needs only minute precision: skip the write on busy sessions.
	if now.Sub(sess.LastSeenAt) > time.Minute {
		if err := s.st.TouchSession(ctx, sess.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		sess.LastSeenAt = now
	}
	return &userSession{Session: sess, account: acc}, nil
}

// sessionStart describes the sign-in a session starts with.
type sessionStart struct {
	// AMR and ACR are how the user signed in (ACR "": none claimed by the sign-in itself).
	AMR []string
	ACR string
	// TTL is the session's lifetime; 0 means session_ttl.
	TTL time.Duration
	// BrowserOnly gives the cookie no Max-Age, so it ends with the browser (a delegated
	// sign-in the app did not ask to remember).
	BrowserOnly bool
	// PasskeyID is the passkey that signed in ("" for none): revoking it ends the session.
	PasskeyID string
}

// startSession creates a session for a freshly authenticated account and sets its cookie.
// Any previous session of this browser ends: a new sign-in must not inherit another
// account's session (session fixation). Every way of signing in starts its session here.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, acc *store.Account, how sessionStart) (*userSession, error) {
	if old, _, ok := strings.Cut(s.cookieValue(r, sessionCookie), "."); ok && old != "" && len(old) <= 64 {
		s.endReplacedSession(ctx, old)
	}
	ttl := how.TTL
	if ttl <= 0 {
		ttl = s.cfg.SessionTTL
	}
	now := s.now()
	secret := newTokenValue()
	sess := &store.Session{
		ID:         newJTI(),
		SecretHash: hashToken(secret),
		Subject:    acc.Subject,
		AuthTime:   now.Truncate(time.Second),
		AMR:        how.AMR,
		ACR:        how.ACR,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(ttl),
		UserAgent:  sessionUserAgent(r.UserAgent()),
		RemoteIP:   s.clientIP(r),
		PasskeyID:  how.PasskeyID,
	}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	// A session cookie (no Max-Age) would outlive the server-side session in a browser that
	// is never closed, and die early in one that is: tie it to the session's lifetime,
	// unless the sign-in asked for a cookie that ends with the browser.
	cookieAge := ttl
	if how.BrowserOnly {
		cookieAge = 0
	}
	s.setCookie(w, sessionCookie, sess.ID+"."+secret, cookieAge)
	return &userSession{Session: sess, account: acc}, nil
}

// endSession deletes the browser's session and clears its cookie.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, sess *userSession) error {
	s.setCookie(w, sessionCookie, "", -1)
	if sess == nil {
		return nil
	}
	return s.st.DeleteSession(ctx, sess.ID)
}

// csrfToken binds a form to this browser: an HMAC of the browser's CSRF cookie and the
// purpose (the interaction), so a forged cross-site POST, which cannot read the cookie, cannot
// produce it. It returns the token and, when the browser had no cookie, sets one.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request, purpose string) string {
	cookie := s.cookieValue(r, csrfCookie)
	if len(cookie) != 43 {
		cookie = newTokenValue()
		s.setCookie(w, csrfCookie, cookie, 0)
	}
	return s.csrfMAC(cookie, purpose)
}

func (s *Server) csrfMAC(cookie, purpose string) string {
	mac := hmac.New(sha256.New, s.csrfKey)
	mac.Write([]byte(cookie))
	mac.Write([]byte{0})
	mac.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkCSRF verifies the csrf_token of a posted form against the browser's cookie.
func (s *Server) checkCSRF(r *http.Request, form url.Values, purpose string) bool {
	cookie := s.cookieValue(r, csrfCookie)
	if cookie == "" {
		return false
	}
	want := s.csrfMAC(cookie, purpose)
	return hmac.Equal([]byte(want), []byte(form.Get("csrf_token")))
}

// sessionUserAgent cuts a User-Agent header to what a session keeps: at most
// store.MaxSessionUserAgent bytes of valid UTF-8.
func sessionUserAgent(ua string) string {
	if len(ua) > store.MaxSessionUserAgent {
		ua = ua[:store.MaxSessionUserAgent]
	}
	return strings.ToValidUTF8(ua, "")
}
