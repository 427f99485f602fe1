package caddymodule

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientidmeta"
)

// ClientIDMetadataDocuments turns on client ID metadata documents: a client_id that is an
// https URL is resolved by fetching the client's metadata there. Present means enabled.
type ClientIDMetadataDocuments struct {
	// AllowPrivate lets documents come from private and loopback addresses, and accepts http
	// client IDs on loopback (development). outbound_allow_private implies it.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// MaxSize is the largest document in bytes (default 5120).
	MaxSize int64 `json:"max_size,omitempty"`
	// Timeout bounds one fetch (default 5s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// CacheMin and CacheMax clamp how long a document is used (defaults 1m and 24h).
	CacheMin caddy.Duration `json:"cache_min,omitempty"`
	CacheMax caddy.Duration `json:"cache_max,omitempty"`
	// AllowedHosts, when set, are the only hosts resolved (exact, or *.example.com).
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// Resources are the resources such clients may get tokens for when
	// enforce_per_client_resources is on.
	Resources []string `json:"resources,omitempty"`
}

// config is the authserver form; nil (absent) is off.
func (c *ClientIDMetadataDocuments) config() clientidmeta.Config {
	if c == nil {
		return clientidmeta.Config{}
	}
	return clientidmeta.Config{
		Enabled:      true,
		AllowPrivate: c.AllowPrivate,
		MaxBytes:     c.MaxSize,
		Timeout:      time.Duration(c.Timeout),
		CacheMin:     time.Duration(c.CacheMin),
		CacheMax:     time.Duration(c.CacheMax),
		AllowedHosts: c.AllowedHosts,
		Resources:    c.Resources,
	}
}

// parseClientIDMetadataDocuments reads
//
//	client_id_metadata_documents {
//	    allow_private [true|false]
//	    max_size <bytes>
//	    timeout <duration>
//	    cache_min <duration>
//	    cache_max <duration>
//	    allowed_hosts <host...>
//	    resources <identifier...>
//	}
//
// The block may be empty or left out (client_id_metadata_documents alone): defaults.
func parseClientIDMetadataDocuments(d *caddyfile.Dispenser) (*ClientIDMetadataDocuments, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	c := &ClientIDMetadataDocuments{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "allow_private":
			c.AllowPrivate, err = boolArg(d)
		case "max_size":
			var s string
			if s, err = oneArg(d); err == nil {
				if c.MaxSize, err = strconv.ParseInt(s, 10, 64); err != nil || c.MaxSize <= 0 {
					err = d.Errf("max_size: want a positive number of bytes, got %q", s)
				}
			}
		case "timeout":
			c.Timeout, err = durationArg(d)
		case "cache_min":
			c.CacheMin, err = durationArg(d)
		case "cache_max":
			c.CacheMax, err = durationArg(d)
		case "allowed_hosts":
			c.AllowedHosts, err = atLeastOneArg(d)
		case "resources":
			c.Resources, err = uriArgs(d, func(v string) error { return checkAbsoluteURI("resources", v) })
		default:
			return nil, d.Errf("unknown client_id_metadata_documents subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
