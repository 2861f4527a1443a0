package store

import (
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tickerboard/tickerboard/migrations"
)

// Migrate applies the embedded migrations: "up" (all pending), "down" (one step back)
// or "down-all". It returns the version the schema is at afterwards. Concurrent
// instances are safe: golang-migrate holds an advisory lock while it works.
func (s *Store) Migrate(direction string) (version uint, err error) {
	m, err := s.migrator()
	if err != nil {
		return 0, err
	}
	defer func() {
		srcErr, dbErr := m.Close()
		err = errors.Join(err, srcErr, dbErr)
	}()
	switch direction {
	case "up":
		err = m.Up()
	case "down":
		err = m.Steps(-1)
	case "down-all":
		err = m.Down()
	default:
		return 0, fmt.Errorf("migrate: unknown direction %q (want up, down or down-all)", direction)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return 0, fmt.Errorf("migrate %s: %w", direction, err)
	}
	v, _, err := s.version(m)
	return v, err
}

// SchemaVersion reports the applied migration version and whether a failed
// migration left the schema dirty.
func (s *Store) SchemaVersion() (version uint, dirty bool, err error) {
	m, err := s.migrator()
	if err != nil {
		return 0, false, err
	}
	defer m.Close()
	return s.version(m)
}

func (s *Store) version(m *migrate.Migrate) (uint, bool, error) {
	v, dirty, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("migration version: %w", err)
	}
	return v, dirty, nil
}

func (s *Store) migrator() (*migrate.Migrate, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	db := stdlib.OpenDB(*s.ConnConfig())
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		return nil, fmt.Errorf("start migrations: %w", err)
	}
	return m, nil
}
