package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrationsFS embed.FS

const (
	// migrationTable keeps our versions apart from any other goose user of the database.
	migrationTable = "oauth_schema_migrations"
	// migrationLockID is the PostgreSQL advisory lock taken while migrating, so instances
	// starting together migrate one after the other (crc32 of "caddy-oauth").
	migrationLockID int64 = 3380632763
)

// migrate applies the pending migrations of d to db.
func migrate(ctx context.Context, d dialect, db *sql.DB) error {
	p, err := migrationProvider(d, db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate %s schema: %w", d.name(), err)
	}
	return nil
}

// migrationProvider returns a goose Provider for the migrations of d. A Provider rather
// than goose's package-level state lets stores opened concurrently not interfere.
func migrationProvider(d dialect, db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationsFS, "migrations/"+d.name())
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if _, ok := d.(postgresDialect); ok {
		// Poll the advisory lock every second for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d.gooseDialect(), db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p, nil
}
