// Package floor times the least a client must do to recover from a rotation it finds out
// about by failing: one login the database rejects, one GetSecretValue, one login that
// works and the first query on it. A client's time to recover reads best as a multiple of this floor, timed on the
// same machine against the same database and Secrets Manager, since both depend on the
// machine far more than on the client. The benchmarks (BENCHMARKS.md) and the demo
// print their times to recover next to it.
//
// It logs in as sqlconn.NewPostgres does (pgx's database/sql connector, the failure sorted by
// internal/pgclass) but on pgx directly, with no cache, pool or retry: it is measuring
// tooling beside the clients, not a user of them.
//
//	s, err := floor.Postgres(ctx, client, secretID, map[string]string{"sslmode": "disable"})
//	if err != nil { ... }
//	fmt.Printf("floor %v (rejected login %v, GetSecretValue %v, login %v, SELECT 1 %v)\n",
//		s.Total(), s.Rejected, s.Read, s.Login, s.Query)
package floor

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/pgclass"
)

// Steps is one timing of the floor, step by step.
type Steps struct {
	Rejected time.Duration // a login with stale credentials, until the database refuses it
	Read     time.Duration // one GetSecretValue
	Login    time.Duration // a login with the credentials read, until the connection is ready
	Query    time.Duration // SELECT 1 on that connection: the query the client logged in for
}

// Total returns the floor: the steps one after the other.
func (s Steps) Total() time.Duration { return s.Rejected + s.Read + s.Login + s.Query }

// Postgres times the floor once against the PostgreSQL database that the AWSCURRENT
// version of secretID names, with no rotation going on: it reads the secret once, untimed,
// to learn where to log in, then runs Time with the secret's user and a password that is
// not its own as the stale credentials, reading AWSCURRENT.
func Postgres(ctx context.Context, api rotasafe.API, secretID string, params map[string]string) (Steps, error) {
	v, err := rotasafe.Fetch(ctx, api, secretID, "", rotasafe.StageCurrent)
	if err != nil {
		return Steps{}, fmt.Errorf("floor: reading secret %q: %w", secretID, err)
	}
	stale, err := parse(v)
	if err != nil {
		return Steps{}, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	stale.Password += "-not-this-one"
	return Time(ctx, api, secretID, "", rotasafe.StageCurrent, stale, params)
}

// Time times the steps once for a client that holds stale credentials: it logs in with
// stale, which the database must refuse as wrong credentials (SQLSTATE 28P01 or 28000),
// reads the version of secretID named by versionID and stage as rotasafe.Fetch does (a
// database secret's JSON), logs in with it and runs SELECT 1. It logs in as sqlconn.NewPostgres
// does, with the connection parameters params (nil for none; as sqlconn.WithParams takes).
// During a single-user rotation, with the credentials cached before it and the rotation's
// new version, this is what the fastest possible client does. Errors name the secret and
// the step, never a password.
func Time(ctx context.Context, api rotasafe.API, secretID, versionID, stage string, stale rotasafe.DBSecret, params map[string]string) (Steps, error) {
	var s Steps
	bad, err := connector(stale, params)
	if err != nil {
		return s, fmt.Errorf("floor: stale credentials of secret %q: %w", secretID, err)
	}

	t0 := time.Now()
	conn, err := bad.Connect(ctx)
	s.Rejected = time.Since(t0)
	switch {
	case err == nil:
		conn.Close()
		return s, fmt.Errorf("floor: the database of secret %q took the stale credentials, so nothing is rejected", secretID)
	case pgclass.Classify(err) != rotasafe.ClassAuth:
		return s, fmt.Errorf("floor: the login with stale credentials failed otherwise than as wrong credentials: %w", err)
	}

	t0 = time.Now()
	v, err := rotasafe.Fetch(ctx, api, secretID, versionID, stage)
	s.Read = time.Since(t0)
	if err != nil {
		return s, fmt.Errorf("floor: reading secret %q: %w", secretID, err)
	}

	// The login counts parsing the answer and building the driver's connector, as a
	// client's first login with a new version does.
	t0 = time.Now()
	sec, err := parse(v)
	if err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	good, err := connector(sec, params)
	if err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	conn, err = good.Connect(ctx)
	s.Login = time.Since(t0)
	if err != nil {
		return s, fmt.Errorf("floor: logging in with secret %q version %s: %w", secretID, v.ID, err)
	}
	defer conn.Close()

	t0 = time.Now()
	err = selectOne(ctx, conn)
	s.Query = time.Since(t0)
	if err != nil {
		return s, fmt.Errorf("floor: SELECT 1: %w", err)
	}
	return s, nil
}

// connector returns pgx's database/sql connector for the secret's database, with params as
// connection parameters. The password goes into the parsed configuration, never into a
// connection string, so no parse error can quote it.
func connector(s rotasafe.DBSecret, params map[string]string) (driver.Connector, error) {
	q := url.Values{}
	for k, v := range params {
		if k == "user" || k == "password" || k == "passfile" {
			return nil, fmt.Errorf("connection parameter %q is not allowed: the credentials come from the secret", k)
		}
		q.Set(k, v)
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.PortOrDefault())), Path: "/" + s.DBNameOrDefault(), RawQuery: q.Encode()}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password = s.Username, s.Password
	return stdlib.GetConnector(*cfg), nil
}

// selectOne runs SELECT 1 on conn and reads its row.
func selectOne(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return fmt.Errorf("the driver's connection (%T) cannot run a query", conn)
	}
	rows, err := q.QueryContext(ctx, "SELECT 1", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	return rows.Next(make([]driver.Value, len(rows.Columns())))
}

// parse reads the database secret of v from SecretString, or SecretBinary when that is
// where the value is, as sqlconn does.
func parse(v rotasafe.Version) (rotasafe.DBSecret, error) {
	if v.SecretString == "" && v.SecretBinary != nil {
		return rotasafe.ParseDBSecret(v.SecretBinary)
	}
	return rotasafe.ParseDBSecret([]byte(v.SecretString))
}
