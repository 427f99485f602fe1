package authserver

import (
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
)

// Manage returns the service that changes this server's clients, resources and links at run
// time (admin API, registration).
func (s *Server) Manage() *manage.Service { return s.manage }

// newManage connects the management service to this server: its rules, its sealer, what its
// configuration owns, and its caches, dropped after every change.
func (s *Server) newManage() *manage.Service {
	return manage.New(manage.Deps{
		Store: s.st,
		Env:   s.cfg.specEnv(false),
		Seal:  s.deps.Sealer.Seal,
		Open:  s.deps.Sealer.Open,
		ConfiguredClient: func(id string) bool {
			return slices.ContainsFunc(s.cfg.Clients, func(c ClientConfig) bool { return c.ID == id })
		},
		ConfiguredResource: func(identifier string) bool {
			return slices.ContainsFunc(s.cfg.Resources, func(r ResourceConfig) bool { return r.Identifier == identifier })
		},
		Changed:               s.managedChange,
		SessionEnding:         s.sessionEnding,
		SecretRotationOverlap: s.cfg.ClientSecretRotationOverlap,
		AccessTokenTTL:        s.cfg.AccessTokenTTL,
		Audit:                 s.audit,
		Now:                   s.now,
		Logger:                s.log.Named("manage"),
	})
}

// managedChange drops what a runtime change may have made stale: client, resource and link
// lookups, and in-process token validations (which may name a deleted client or resource, or
// a revoked grant's tokens).
func (s *Server) managedChange() {
	s.lookups.invalidate()
	s.clearGateway()
	s.verified.Clear()
}
