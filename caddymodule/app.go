package caddymodule

import (
	"context"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver"
	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

func init() {
	caddy.RegisterModule(new(App))
	httpcaddyfile.RegisterGlobalOption("oauth", parseGlobalOption)
}

// stores holds open databases across config generations, keyed by driver and DSN: a
// reload provisions the new handlers (taking a reference) before the old ones are
// cleaned up (dropping theirs), so the database stays open and nothing is lost.
var stores = caddy.NewUsagePool()

// pooledStore lets the usage pool close the store when its last user is gone.
type pooledStore struct{ store.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// App is the `oauth` app. Caddy makes one per config generation; state that must survive a
// reload (open stores) lives in the package-level usage pool, and the app keeps this
// generation's registry of the issuers served in-process.
//
// Handlers get it with ctx.App("oauth"); Caddy creates it with empty config when the
// `oauth` global option is absent.
type App struct {
	logger *zap.Logger

	mu      sync.RWMutex
	issuers map[string]*authserver.Server
	// starters run at Start, when every handler of the generation is provisioned (and so
	// every in-process issuer registered).
	starters []func()
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "oauth",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up the app.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.issuers = make(map[string]*authserver.Server)
	return nil
}

// Start implements caddy.App; the servers start serving with the HTTP app. It runs what
// handlers asked to do once the configuration is complete.
func (a *App) Start() error {
	a.mu.RLock()
	starters := a.starters
	a.mu.RUnlock()
	for _, f := range starters {
		f()
	}
	return nil
}

// onStart runs f at Start (handlers call it while provisioning).
func (a *App) onStart(f func()) {
	a.mu.Lock()
	a.starters = append(a.starters, f)
	a.mu.Unlock()
}

// Stop implements caddy.App; handlers close their servers in Cleanup.
func (a *App) Stop() error { return nil }

// Issuer returns the authorization server of this config generation for iss, so that
// resource validation in the same process can skip HTTP.
func (a *App) Issuer(iss string) (*authserver.Server, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	srv, ok := a.issuers[iss]
	return srv, ok
}

// issuerNames lists the registered issuers.
func (a *App) issuerNames() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	names := make([]string, 0, len(a.issuers))
	for iss := range a.issuers {
		names = append(names, iss)
	}
	return names
}

func (a *App) register(iss string, srv *authserver.Server) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.issuers[iss]; dup {
		// Two servers for one issuer would each rotate keys and seed the same rows.
		return fmt.Errorf("issuer %q is served by more than one oauth_server handler; declare it once", iss)
	}
	a.issuers[iss] = srv
	return nil
}

func (a *App) unregister(iss string, srv *authserver.Server) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.issuers[iss] == srv {
		delete(a.issuers, iss)
	}
}

// openStore returns the shared store for driver and dsn, opening it on first use, and a
// function that drops this caller's reference (closing the store after the last one).
func (a *App) openStore(ctx context.Context, driver, dsn string) (store.Store, func(), error) {
	key := driver + "\x00" + dsn
	val, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The store outlives this config generation, so it must not inherit ctx's
		// cancellation; only its values (none needed) would matter.
		st, err := sqlstore.Open(context.WithoutCancel(ctx), driver, dsn)
		if err != nil {
			return nil, err
		}
		return pooledStore{st}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !loaded {
		a.logger.Info("opened store", zap.String("driver", driver))
	}
	release := func() {
		if _, err := stores.Delete(key); err != nil {
			a.logger.Error("closing store", zap.String("driver", driver), zap.Error(err))
		}
	}
	return val.(pooledStore).Store, release, nil
}

// parseGlobalOption parses the `oauth` global option. It has no sub-options yet; the
// block exists so later ones have a home, and anything inside is rejected.
//
//	{
//	    oauth
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		return nil, d.Errf("unknown oauth option %q", d.Val())
	}
	return httpcaddyfile.App{Name: "oauth", Value: caddyconfig.JSON(new(App), nil)}, nil
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)

// loadApp returns the oauth app of this config generation (Caddy makes one with an empty
// config when the Caddyfile has no `oauth` global option).
func loadApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("oauth")
	if err != nil {
		return nil, fmt.Errorf("loading oauth app: %v", err)
	}
	return app.(*App), nil
}

// guessLimiters keeps each issuer's throttling of guesses (passwords, device user codes)
// across config reloads, so that a reload does not hand an attacker a fresh allowance. Keyed
// by purpose, issuer and limits; entries are few (two per issuer and configured limits) and
// bounded in size by the limiter itself.
var guessLimiters sync.Map

// Purposes of guessLimiters: sign-in passwords and device user codes are counted apart.
const (
	limitLogins    = "login"
	limitUserCodes = "user_code"
)

func (a *App) guessLimiter(purpose, issuer string, cfg authserver.Config) (*account.Limiter, error) {
	limits, err := cfg.LoginLimiterConfig()
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s|%s|%+v", purpose, issuer, limits)
	if l, ok := guessLimiters.Load(key); ok {
		return l.(*account.Limiter), nil
	}
	l, _ := guessLimiters.LoadOrStore(key, account.NewLimiter(limits))
	return l.(*account.Limiter), nil
}
