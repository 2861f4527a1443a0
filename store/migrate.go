package store

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tickerboard/tickerboard/migrations"
)

// Migrate applies the embedded migrations: "up" (all pending), "down" (one step back)
// or "down-all". It returns the version the schema is at afterwards. Concurrent
// instances are safe: golang-migrate holds an advisory lock while it works.
func (s *Store) Migrate(direction string) (version uint, err error) {
	return s.withMigrator(func(m *migrate.Migrate) error {
		switch direction {
		case "up":
			return m.Up()
		case "down":
			return m.Steps(-1)
		case "down-all":
			return m.Down()
		}
		return fmt.Errorf("unknown direction %q (want up, down or down-all)", direction)
	}, "migrate "+direction)
}

// Goto migrates up or down to version, which is 0 (nothing applied) or one of
// MigrationVersions: how an operator steps back to a known schema on purpose.
func (s *Store) Goto(version uint) (uint, error) {
	if err := checkVersion(int(version)); err != nil {
		return 0, fmt.Errorf("migrate goto: %w", err)
	}
	return s.withMigrator(func(m *migrate.Migrate) error {
		if version == 0 {
			return m.Down()
		}
		return m.Migrate(version)
	}, fmt.Sprintf("migrate goto %d", version))
}

// Force records version (0 for nothing applied) as the schema's version and clears
// the dirty flag without running any migration. A migration that fails part-way
// leaves the schema dirty and every later migrate refuses to run; after putting the
// schema right by hand, Force says which version it now really is.
func (s *Store) Force(version int) error {
	if err := checkVersion(version); err != nil {
		return fmt.Errorf("migrate force: %w", err)
	}
	what := fmt.Sprintf("migrate force %d", version)
	if version == 0 {
		version = database.NilVersion
	}
	_, err := s.withMigrator(func(m *migrate.Migrate) error { return m.Force(version) }, what)
	return err
}

// MigrationVersions lists the versions of the embedded migrations, oldest first.
func MigrationVersions() ([]uint, error) {
	names, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("list embedded migrations: %w", err)
	}
	var vs []uint
	for _, n := range names {
		var v uint
		if _, err := fmt.Sscanf(n, "%d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: no version number: %w", n, err)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, nil
}

// checkVersion refuses a version that is neither 0 nor an embedded migration:
// golang-migrate would record it, and every later migrate would fail to find it.
func checkVersion(v int) error {
	vs, err := MigrationVersions()
	if err != nil {
		return err
	}
	if v == 0 || v > 0 && slices.Contains(vs, uint(v)) {
		return nil
	}
	return fmt.Errorf("no migration %d (want 0 for none, or one of %v)", v, vs)
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

// withMigrator runs op with a migrator and returns the version the schema is at
// afterwards. ErrNoChange is success; a dirty schema's error says how to recover.
func (s *Store) withMigrator(op func(*migrate.Migrate) error, what string) (version uint, err error) {
	m, err := s.migrator()
	if err != nil {
		return 0, err
	}
	defer func() {
		srcErr, dbErr := m.Close()
		err = errors.Join(err, srcErr, dbErr)
	}()
	if err := op(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return 0, fmt.Errorf("%s: %w", what, explainDirty(err))
	}
	v, _, err := s.version(m)
	return v, err
}

// explainDirty turns golang-migrate's "Dirty database version N. Fix and force
// version." into what to do about it with this binary.
func explainDirty(err error) error {
	var dirty migrate.ErrDirty
	if !errors.As(err, &dirty) {
		return err
	}
	before := 0
	if vs, verr := MigrationVersions(); verr == nil {
		for _, v := range vs {
			if int(v) < dirty.Version {
				before = int(v)
			}
		}
	}
	return fmt.Errorf("the schema is dirty: migration %d failed part-way (%w); "+
		"check what it left, then run `tickerboard migrate force %d` if none of it is applied "+
		"(or `tickerboard migrate force %d` if all of it is), and start again",
		dirty.Version, err, before, dirty.Version)
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
