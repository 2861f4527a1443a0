// Package store is Tickerboard's PostgreSQL layer: the connection pool, the schema
// migrations, the queries that load quotes, games and events, the change Notifier that
// follows the event log, and the Leader election that keeps the feeds on one instance.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is where Tickerboard looks for Postgres when DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/tickerboard?sslmode=disable"

// Store is a pool of connections to one Tickerboard database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url, which must already exist (see EnsureDatabase).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool}, nil
}

// Close closes every pooled connection.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool to code that writes SQL of its own, such as the feeds' writers.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ConnConfig is a copy of the pool's connection settings, for dedicated connections
// such as the Notifier's LISTEN and the Leader's advisory lock.
func (s *Store) ConnConfig() *pgx.ConnConfig { return s.pool.Config().ConnConfig.Copy() }

// session opens a connection of its own (not the pool's), named name in
// pg_stat_activity, waiting at most timeout for it: for what must hold one session
// (LISTEN, a session's advisory lock). End it with hangUp.
func (s *Store) session(ctx context.Context, name string, timeout time.Duration) (*pgx.Conn, error) {
	cfg := s.ConnConfig()
	cfg.RuntimeParams["application_name"] = name
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// hangUp ends a session of its own (and with it the session's advisory locks),
// waiting at most a second, whatever the caller's context.
func hangUp(c interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Close(ctx)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// EnsureDatabase creates the database named in url if it does not exist, connecting to
// the server's "postgres" database to do so. A role that may not create databases gets
// an error only if the database is really missing.
func EnsureDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to %s: %w", cfg.Database, err)
	}
	name := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to postgres to create database %q: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !isCode(err, "42P04") { // duplicate_database: another instance won the race
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
