package authserver

import "github.com/caddy-oauth/caddy-oauth/authserver/registration"

// newRegistration connects dynamic client registration to this server: its writes go through
// the management service, so they pass the same rules and drop the same caches. nil when the
// policy is off.
func (s *Server) newRegistration() (*registration.Handler, error) {
	return registration.New(s.cfg.Registration, s.basePath(), registration.Deps{
		Issuer:  s.cfg.Issuer,
		Clients: s.manage,
		Store:   s.st,
		Changed: s.managedChange,
		Now:     s.now,
		Logger:  s.log.Named("registration"),
		// The registration endpoint answers a failing database 503, like every other.
		Unavailable: s.unavailable,
	})
}

// registrationEndpoint is the advertised registration_endpoint; empty when registration is off.
func (s *Server) registrationEndpoint() string {
	if s.registration == nil {
		return ""
	}
	return s.registration.Endpoint()
}
