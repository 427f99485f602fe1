package clientidmeta

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxBytes is the draft's recommended read limit (5 kilobytes, §"Maximum Response
	// Size"): a client's metadata is a few hundred bytes.
	DefaultMaxBytes = 5 << 10
	DefaultTimeout  = 5 * time.Second
	// DefaultCacheMin and DefaultCacheMax bound how long a fetched document is used, whatever
	// its Cache-Control or Expires says: at least a minute (a document marked no-store does
	// not make every request a fetch), at most a day (a client's changes are seen).
	DefaultCacheMin   = time.Minute
	DefaultCacheMax   = 24 * time.Hour
	DefaultMaxEntries = 10_000
)

// Config configures client ID metadata documents. The zero value is off.
type Config struct {
	// Enabled resolves client_ids that are https URLs by fetching them.
	Enabled bool
	// AllowPrivate lets documents be fetched from private, loopback and link-local addresses,
	// and (for development) accepts http client IDs on a loopback host. Off by default.
	AllowPrivate bool
	// MaxBytes is the largest document accepted (default 5 KiB).
	MaxBytes int64
	// Timeout bounds one fetch (default 5 s).
	Timeout time.Duration
	// CacheMin and CacheMax clamp the lifetime the document's cache headers give it
	// (defaults 1 minute and 24 hours).
	CacheMin time.Duration
	CacheMax time.Duration
	// AllowedHosts, when set, are the only hosts whose client IDs are resolved: exact names,
	// or "*.example.com" for any subdomain of example.com.
	AllowedHosts []string
	// Resources are the identifiers of the resources such clients may get tokens for when
	// enforce_per_client_resources is on (they have no links of their own); with one
	// resource it is also their default resource.
	Resources []string
	// MaxEntries bounds the cache (default 10,000 documents).
	MaxEntries int
	// RootCAs verifies the servers' certificates; nil means the system roots.
	RootCAs *x509.CertPool
}

// WithDefaults returns c with its zero values filled and checks it.
func (c Config) WithDefaults() (Config, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CacheMin == 0 {
		c.CacheMin = DefaultCacheMin
	}
	if c.CacheMax == 0 {
		c.CacheMax = DefaultCacheMax
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	return c, c.check()
}

func (c Config) check() error {
	const prefix = "client_id_metadata_documents: "
	switch {
	case c.MaxBytes < 0 || c.Timeout < 0 || c.CacheMin < 0 || c.CacheMax < 0 || c.MaxEntries < 0:
		return fmt.Errorf(prefix + "sizes and durations must not be negative")
	case c.MaxBytes > 1<<20:
		return fmt.Errorf(prefix+"max_size: at most %d bytes", 1<<20)
	case c.CacheMin > c.CacheMax:
		return fmt.Errorf(prefix + "cache_min must not exceed cache_max")
	}
	for _, h := range c.AllowedHosts {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, "*/:@ ") || name != strings.ToLower(name) {
			return fmt.Errorf(prefix+"allowed_hosts %q: want a lower-case host name or *.domain", h)
		}
	}
	for _, r := range c.Resources {
		if err := spec.ValidateResourceIdentifier("resources", r); err != nil {
			return fmt.Errorf(prefix+"%w", err)
		}
	}
	return nil
}

// hostAllowed applies AllowedHosts to a lower-case host name.
func (c Config) hostAllowed(host string) bool {
	if len(c.AllowedHosts) == 0 {
		return true
	}
	for _, h := range c.AllowedHosts {
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}
