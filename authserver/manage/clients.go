package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Created is a client as CreateClient, ReplaceClient and RotateSecret leave it.
type Created struct {
	Client *store.Client
	// Secret is the client secret in clear when the server generated it: shown once, never
	// stored. Empty otherwise.
	Secret string
	// Links are the client's links, as its views show them.
	Links []spec.LinkView
}

// CreateClient validates c, stores it as a new client of source and links it to its
// resources. An empty ID is generated. A client that authenticates with a shared secret (the
// RFC 7591 default, client_secret_basic, when neither a method nor keys are given) and brings
// none gets a generated one, returned once in Created.Secret. ErrExists if the ID is taken
// (of concurrent creations of one ID exactly one succeeds); a *spec.Error for invalid input.
func (s *Service) CreateClient(ctx context.Context, c spec.Client, source string) (*Created, error) {
	if c.ID == "" {
		c.ID = spec.NewClientID()
	}
	if s.d.ConfiguredClient(c.ID) {
		return nil, configured("client", c.ID)
	}
	generated := ""
	if !c.HasSecret() && usesSecret(c) {
		generated = clientsecret.Generate()
		c.Secret = generated
	}
	rec, links, err := s.prepareClient(ctx, c)
	if err != nil {
		return nil, err
	}
	rec.Source = source
	if err := s.d.Store.CreateClient(ctx, rec); errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("client %q: %w", c.ID, ErrExists)
	} else if err != nil {
		return nil, err
	}
	if err := s.replaceLinks(ctx, rec.ID, links); err != nil {
		// Nothing half-stored: a client without the links it asked for is removed again.
		if delErr := s.d.Store.DeleteClient(ctx, rec.ID); delErr != nil {
			s.log.Error("removing a client whose links failed", zap.String("client_id", rec.ID), zap.Error(delErr))
		}
		s.d.Changed()
		return nil, err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.ClientCreated, zap.String("client_id", rec.ID), zap.String("source", source),
		zap.String("auth_method", rec.TokenEndpointAuthMethod), zap.Bool("secret_generated", generated != ""))
	return s.created(ctx, rec, generated)
}

// GetClient returns the stored client; ErrNotFound if there is none.
func (s *Service) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := s.d.Store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	return c, err
}

// ClientLinks returns the links of the client as views show them (resource identifiers).
func (s *Service) ClientLinks(ctx context.Context, id string) ([]spec.LinkView, error) {
	links, err := s.d.Store.ListLinks(ctx, store.LinkQuery{ClientID: id})
	if err != nil {
		return nil, err
	}
	views := make([]spec.LinkView, 0, len(links))
	for _, l := range links {
		r, err := s.d.Store.GetResource(ctx, l.ResourceID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since listed
		} else if err != nil {
			return nil, err
		}
		views = append(views, spec.LinkView{Resource: r.Identifier, Tokens: l.Tokens, Introspect: l.Introspect})
	}
	return views, nil
}

// ListClients returns one page of clients ordered by ID.
func (s *Service) ListClients(ctx context.Context, q store.ClientQuery) ([]*store.Client, error) {
	return s.d.Store.ListClientsPage(ctx, q)
}

// ReplaceClient replaces every field of the existing client c.ID with c (RFC 7592 §2.2 and
// the admin API's PUT): what c leaves out is reset to its default, and its links become
// exactly c's resources and introspects. The client keeps its source, its registration
// token and — when c brings no secret but still authenticates with one — its secret (a
// client switching to a secret method gets a generated one, returned once).
func (s *Service) ReplaceClient(ctx context.Context, c spec.Client, source string) (*Created, error) {
	if s.d.ConfiguredClient(c.ID) {
		return nil, configured("client", c.ID)
	}
	existing, err := s.GetClient(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	keep, generated, err := s.carrySecret(&c, existing)
	if err != nil {
		return nil, err
	}
	rec, links, err := s.prepareClient(ctx, c)
	if err != nil {
		return nil, err
	}
	rec.Source = existing.Source
	rec.RegistrationTokenHash = existing.RegistrationTokenHash
	rec.CreatedAt = existing.CreatedAt
	if keep {
		rec.SecretExpiresAt = existing.SecretExpiresAt
		rec.PreviousSecretHash = existing.PreviousSecretHash
		rec.PreviousSecretSealed = existing.PreviousSecretSealed
		rec.PreviousSecretExpiresAt = existing.PreviousSecretExpiresAt
	}
	if err := s.update(ctx, rec); err != nil {
		return nil, err
	}
	err = s.replaceLinks(ctx, rec.ID, links)
	s.d.Changed()
	if err != nil {
		return nil, err
	}
	s.d.Audit.Event(audit.ClientReplaced, zap.String("client_id", rec.ID), zap.String("by", source),
		zap.String("auth_method", rec.TokenEndpointAuthMethod), zap.Bool("disabled", rec.Disabled),
		zap.Bool("secret_generated", generated != ""))
	return s.created(ctx, rec, generated)
}

// DeleteClient deletes the client with its links and consents (and so its registration
// token), then revokes its grants — with their refresh and access tokens — and its opaque
// access tokens. The client fails authentication from the moment its row is gone.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if s.d.ConfiguredClient(id) {
		return configured("client", id)
	}
	err := s.d.Store.DeleteClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	} else if err != nil {
		return err
	}
	s.d.Changed()
	grants, tokens, err := s.revokeClientTokens(ctx, id)
	if err != nil {
		return fmt.Errorf("client %q is deleted, but revoking its tokens failed: %w", id, err)
	}
	s.d.Audit.Event(audit.ClientDeleted, zap.String("client_id", id), zap.Int("grants_revoked", grants), zap.Int("access_tokens_revoked", tokens))
	return nil
}

// RevokeClientGrants revokes every grant of the client (with the refresh and access tokens
// issued under them) and its opaque access tokens; it returns how many grants it revoked.
func (s *Service) RevokeClientGrants(ctx context.Context, id string) (int, error) {
	grants, tokens, err := s.revokeClientTokens(ctx, id)
	if err != nil {
		return 0, err
	}
	s.d.Audit.Event(audit.GrantRevoked, zap.String("client_id", id), zap.Int("grants_revoked", grants), zap.Int("access_tokens_revoked", tokens))
	return grants, nil
}

func (s *Service) revokeClientTokens(ctx context.Context, id string) (grants, tokens int, err error) {
	defer s.d.Changed() // cached in-process validations may hold the revoked tokens
	if grants, err = s.d.Store.RevokeClientGrants(ctx, id); err != nil {
		return 0, 0, err
	}
	if tokens, err = s.d.Store.RevokeClientAccessTokens(ctx, id); err != nil {
		return 0, 0, err
	}
	// Sealed opaque tokens have no row to mark: every one issued until now is cut off.
	now := s.d.Now()
	longest, err := s.longestAccessTokenTTL(ctx)
	if err != nil {
		return 0, 0, err
	}
	return grants, tokens, s.d.Store.SetClientTokenCutoff(ctx, id, now, now.Add(longest))
}

// longestAccessTokenTTL is the longest an access token issued now can live: the server's
// default or a resource's own, whichever is longer.
func (s *Service) longestAccessTokenTTL(ctx context.Context) (time.Duration, error) {
	resources, err := s.d.Store.ListResources(ctx)
	if err != nil {
		return 0, err
	}
	longest := s.d.AccessTokenTTL
	for _, r := range resources {
		if r.AccessTokenTTL != nil {
			longest = max(longest, time.Duration(*r.AccessTokenTTL)*time.Second)
		}
	}
	return longest, nil
}

// RotateSecret gives the client a new generated secret, returned once. The previous secret
// stays valid for overlap (DefaultOverlap: the server's client_secret_rotation_overlap; 0
// ends it at once, for a leaked secret), so deployed clients can switch without downtime.
func (s *Service) RotateSecret(ctx context.Context, id string, overlap time.Duration) (*Created, error) {
	if s.d.ConfiguredClient(id) {
		return nil, configured("client", id)
	}
	if overlap == DefaultOverlap {
		overlap = s.d.SecretRotationOverlap
	}
	if overlap < 0 {
		return nil, invalid(clientSubject(id), spec.CodeInvalidValue, "overlap", "must not be negative")
	}
	existing, err := s.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(secretMethods, existing.TokenEndpointAuthMethod) {
		return nil, invalid(clientSubject(id), spec.CodeInvalidClientMetadata, "token_endpoint_auth_method", "the client authenticates without a shared secret; there is none to rotate")
	}
	secret := clientsecret.Generate()
	rec := *existing
	if rec.SecretHash, err = clientsecret.Hash(secret); err != nil {
		return nil, err
	}
	rec.SecretSealed = nil
	if rec.TokenEndpointAuthMethod == spec.AuthSecretJWT {
		if rec.SecretSealed, err = s.d.Seal([]byte(secret), []byte(id)); err != nil {
			return nil, err
		}
	}
	rec.SecretExpiresAt = nil
	rec.PreviousSecretHash, rec.PreviousSecretSealed, rec.PreviousSecretExpiresAt = "", nil, nil
	if overlap > 0 && existing.SecretHash != "" {
		until := s.d.Now().Add(overlap).UTC().Truncate(time.Millisecond) // the store's precision
		rec.PreviousSecretHash = existing.SecretHash
		rec.PreviousSecretSealed = existing.SecretSealed
		rec.PreviousSecretExpiresAt = &until
	}
	if err := s.update(ctx, &rec); err != nil {
		return nil, err
	}
	s.d.Changed()
	s.d.Audit.Event(audit.ClientSecret, zap.String("client_id", id), zap.Duration("overlap", overlap))
	return s.created(ctx, &rec, secret)
}

// secretMethods authenticate with a shared secret.
var secretMethods = []string{spec.AuthSecretBasic, spec.AuthSecretPost, spec.AuthSecretJWT}

// usesSecret reports whether the (not yet normalized) client authenticates with a shared
// secret: a secret method, or no method and no keys (RFC 7591 §2's default is
// client_secret_basic).
func usesSecret(c spec.Client) bool {
	if c.TokenEndpointAuthMethod == "" {
		return c.JWKS == "" && c.JWKSURI == ""
	}
	return slices.Contains(secretMethods, c.TokenEndpointAuthMethod)
}

// carrySecret completes a replacement that brings no secret but still authenticates with one:
// the existing secret is kept (keep) when there is one, else one is generated.
func (s *Service) carrySecret(c *spec.Client, existing *store.Client) (keep bool, generated string, err error) {
	if c.HasSecret() || !usesSecret(*c) {
		return false, "", nil
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = spec.AuthSecretBasic
	}
	switch {
	case c.TokenEndpointAuthMethod == spec.AuthSecretJWT && len(existing.SecretSealed) > 0:
		// HMAC assertions need the secret itself, which only the sealed copy holds.
		plain, err := s.d.Open(existing.SecretSealed, []byte(existing.ID))
		if err != nil {
			return false, "", fmt.Errorf("opening the stored secret of client %q: %w", existing.ID, err)
		}
		c.Secret = string(plain)
		return true, "", nil
	case c.TokenEndpointAuthMethod != spec.AuthSecretJWT && existing.SecretHash != "":
		c.SecretHash = existing.SecretHash
		return true, "", nil
	}
	generated = clientsecret.Generate()
	c.Secret = generated
	return false, generated, nil
}

// prepareClient normalizes c and resolves its links to stored resources, before anything is
// written: a client naming an unknown resource is refused whole.
func (s *Service) prepareClient(ctx context.Context, c spec.Client) (*store.Client, []*store.ClientResource, error) {
	c, err := spec.NormalizeClient(c, s.d.Env)
	if err != nil {
		return nil, nil, err
	}
	var links []*store.ClientResource
	for _, l := range spec.Links(c) {
		if err := spec.ValidateLink(c, l); err != nil {
			return nil, nil, err
		}
		r, err := s.d.Store.GetResourceByIdentifier(ctx, l.Resource)
		if errors.Is(err, store.ErrNotFound) {
			field := "resources"
			if !l.Tokens {
				field = "introspects"
			}
			return nil, nil, invalid(clientSubject(c.ID), spec.CodeInvalidClientMetadata, field, "names a resource that does not exist")
		} else if err != nil {
			return nil, nil, err
		}
		links = append(links, &store.ClientResource{ClientID: c.ID, ResourceID: r.ID, Tokens: l.Tokens, Introspect: l.Introspect})
	}
	rec, err := spec.ClientRecord(c, s.d.Seal)
	if err != nil {
		return nil, nil, err
	}
	return rec, links, nil
}

// replaceLinks makes the client's links exactly links.
func (s *Service) replaceLinks(ctx context.Context, clientID string, links []*store.ClientResource) error {
	existing, err := s.d.Store.ListLinks(ctx, store.LinkQuery{ClientID: clientID})
	if err != nil {
		return err
	}
	for _, old := range existing {
		if !slices.ContainsFunc(links, func(l *store.ClientResource) bool { return l.ResourceID == old.ResourceID }) {
			if err := s.d.Store.UnlinkClientResource(ctx, clientID, old.ResourceID); err != nil {
				return err
			}
		}
	}
	for _, l := range links {
		if err := s.d.Store.LinkClientResource(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) created(ctx context.Context, rec *store.Client, secret string) (*Created, error) {
	links, err := s.ClientLinks(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	return &Created{Client: rec, Secret: secret, Links: links}, nil
}

// update writes rec over the stored client. It never inserts: a change that read the client
// before a concurrent deletion must not bring it back (with its old secret or registration
// token), so that change fails with ErrNotFound.
func (s *Service) update(ctx context.Context, rec *store.Client) error {
	err := s.d.Store.UpdateClient(ctx, rec)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q: %w", rec.ID, ErrNotFound)
	}
	return err
}

func clientSubject(id string) string { return fmt.Sprintf("client %q", id) }

func configured(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrConfigured)
}
