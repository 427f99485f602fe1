package ssf

import (
	"encoding/json"
	"net/http"

	"github.com/caddy-oauth/caddy-oauth/backchannel/secevent"
)

// Paths of the endpoints below the issuer.
const (
	pathStreams = "/ssf/streams"
	pathStatus  = "/ssf/status"
	pathPoll    = "/ssf/poll/"
)

// eventsSupported are the event types the transmitter sends.
var eventsSupported = []string{secevent.EventSessionRevoked, secevent.EventTokenRevoked}

// transmitterMetadata is the SSF 1.0 §7.1 transmitter configuration metadata.
type transmitterMetadata struct {
	SpecVersion              string       `json:"spec_version"`
	Issuer                   string       `json:"issuer"`
	JWKSURI                  string       `json:"jwks_uri"`
	DeliveryMethodsSupported []string     `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string       `json:"configuration_endpoint"`
	StatusEndpoint           string       `json:"status_endpoint"`
	AuthorizationSchemes     []authScheme `json:"authorization_schemes"`
	DefaultSubjects          string       `json:"default_subjects"`
}

type authScheme struct {
	SpecURN string `json:"spec_urn"`
}

// metadata returns the transmitter's metadata document.
func (s *Server) metadata() transmitterMetadata {
	return transmitterMetadata{
		SpecVersion:              "1_0",
		Issuer:                   s.deps.Issuer,
		JWKSURI:                  s.deps.JWKSURI,
		DeliveryMethodsSupported: []string{secevent.DeliveryPoll},
		ConfigurationEndpoint:    s.endpoint(pathStreams),
		StatusEndpoint:           s.endpoint(pathStatus),
		// HTTP Basic (RFC 7617) with the client's ID and secret.
		AuthorizationSchemes: []authScheme{{SpecURN: "urn:ietf:rfc:7617"}},
		// A new stream receives every revocation, whatever its subject.
		DefaultSubjects: "ALL",
	}
}

// handleMetadata serves the metadata: public, cacheable for a short while.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	body, err := json.Marshal(s.metadata())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
