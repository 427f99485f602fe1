package authserver

import (
	"context"
	"crypto/aes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// setupEndUser prepares the end-user flows: pages, accounts, throttling and the keys derived
// from the master key (so every instance sharing it agrees on CSRF tokens and pairwise subjects).
func (s *Server) setupEndUser(ctx context.Context) error {
	var err error
	if err = s.setupPages(); err != nil {
		return err
	}
	s.accounts = s.deps.Accounts
	if s.accounts == nil {
		s.accounts = account.NewStoreSource(s.st)
	}
	s.limiter = s.deps.LoginLimiter
	if s.limiter == nil {
		limits, err := s.cfg.LoginLimiterConfig()
		if err != nil {
			return err
		}
		limits.Clock = serverClock{s}
		s.limiter = account.NewLimiter(limits)
	}
	s.csrfKey = s.deps.Sealer.DeriveKey("csrf")
	s.pairwiseMACKey = s.deps.Sealer.DeriveKey("pairwise mac")
	if s.pairwiseBlock, err = aes.NewCipher(s.deps.Sealer.DeriveKey("pairwise enc")); err != nil {
		return err
	}
	return s.seedAccounts(ctx)
}

// seedAccounts writes the configured accounts to the store. The configuration is their
// source of truth, except for the subject: an account keeps the sub it was first given, so a
// restart never changes who a user is to the clients.
func (s *Server) seedAccounts(ctx context.Context) error {
	for _, ac := range s.cfg.Accounts {
		acc, err := s.st.GetAccountByUsername(ctx, ac.Username)
		switch {
		case errors.Is(err, store.ErrNotFound):
			acc = &store.Account{Username: ac.Username, Subject: ac.Subject}
			if acc.Subject == "" {
				acc.Subject = newJTI()
			}
		case err != nil:
			return fmt.Errorf("account %s: %w", ac.Username, err)
		case ac.Subject != "" && ac.Subject != acc.Subject:
			return fmt.Errorf("account %s: subject %s differs from the stored %s; a subject never changes", ac.Username, ac.Subject, acc.Subject)
		}
		acc.PasswordHash = ac.PasswordHash
		if ac.Password != "" {
			// Keep the stored hash when it still matches: rehashing at every start would
			// cost an argon2id run per account and change the row for nothing.
			if ok, _ := account.VerifyPassword(acc.PasswordHash, ac.Password); !ok || acc.PasswordHash == "" {
				if acc.PasswordHash, err = account.HashPassword(ac.Password); err != nil {
					return fmt.Errorf("account %s: %w", ac.Username, err)
				}
			}
		}
		acc.Claims = maps.Clone(ac.Claims)
		newlyDisabled := ac.Disabled && !acc.Disabled
		acc.Disabled = ac.Disabled
		if err := s.st.UpsertAccount(ctx, acc); err != nil {
			return fmt.Errorf("account %s: %w", ac.Username, err)
		}
		if newlyDisabled {
			if err := s.endAccess(ctx, acc.Subject); err != nil {
				return fmt.Errorf("account %s: %w", ac.Username, err)
			}
		}
	}
	return nil
}

// cors lets browser apps (SPAs, public clients) call an endpoint from any origin. The endpoints
// wrapped take credentials in headers or the body, never cookies, so no origin gains anything
// it could not do with curl.
func cors(h http.HandlerFunc) http.HandlerFunc { return corsMethods("GET, POST", h) }

// corsMethods is cors for an endpoint whose preflights may ask for the given methods.
func corsMethods(methods string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			h(w, r)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", methods)
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// serverClock is the login limiter's clock when the Server makes its own limiter: the
// Server's clock, and Deps.Sleep.
type serverClock struct{ s *Server }

func (c serverClock) Now() time.Time        { return c.s.now() }
func (c serverClock) Sleep(d time.Duration) { c.s.deps.Sleep(d) }
