// Package floor times the least a client must do to recover from a rotation it finds out
// about by failing: one login the database rejects, one GetSecretValue, one login that
// works. A client's time to recover reads best as a multiple of this floor, timed on the
// same machine against the same database and Secrets Manager, since both depend on the
// machine far more than on the client. The benchmarks (BENCHMARKS.md §3) and the demo
// print their times to recover next to it.
//
//	s, err := floor.Postgres(ctx, client, secretID, map[string]string{"sslmode": "disable"})
//	if err != nil { ... }
//	fmt.Printf("floor %v (rejected login %v, GetSecretValue %v, login %v)\n",
//		s.Total(), s.Rejected, s.Read, s.Login)
package floor

import (
	"context"
	"fmt"
	"time"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// Steps is one timing of the floor, step by step.
type Steps struct {
	Rejected time.Duration // a login with the right user and a wrong password, until the database refuses it
	Read     time.Duration // one GetSecretValue of the secret's AWSCURRENT version
	Login    time.Duration // a login with the password read, until the connection is ready
}

// Total returns the floor: the three steps one after the other.
func (s Steps) Total() time.Duration { return s.Rejected + s.Read + s.Login }

// Postgres times the floor once against the PostgreSQL database that the AWSCURRENT
// version of secretID names (a database secret's JSON), reading it through api and logging
// in as sqlconn.NewPostgres does, with the connection parameters params (nil for none; see
// sqlconn.WithParams). The secret is read once before the timing starts, to learn where
// to log in. The rejected login uses the secret's user with a password that is not its
// own; it must be refused as wrong credentials (SQLSTATE 28P01 or 28000), or Postgres
// returns an error. Errors name the secret and the step, never a password.
func Postgres(ctx context.Context, api rotasafe.API, secretID string, params map[string]string) (Steps, error) {
	var s Steps
	var drv sqlconn.Postgres
	v, err := rotasafe.Fetch(ctx, api, secretID, "", rotasafe.StageCurrent)
	if err != nil {
		return s, fmt.Errorf("floor: reading secret %q: %w", secretID, err)
	}
	sec, err := parse(v)
	if err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	wrong := sec
	wrong.Password = sec.Password + "-not-this-one"
	bad, err := drv.Connector(wrong, params)
	if err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}

	t0 := time.Now()
	conn, err := bad.Connect(ctx)
	s.Rejected = time.Since(t0)
	switch {
	case err == nil:
		conn.Close()
		return s, fmt.Errorf("floor: the database of secret %q took a wrong password: it checks none, so nothing is rejected", secretID)
	case drv.Classify(err) != rotasafe.ClassAuth:
		return s, fmt.Errorf("floor: the login with a wrong password failed otherwise than as wrong credentials: %w", err)
	}

	t0 = time.Now()
	v, err = rotasafe.Fetch(ctx, api, secretID, "", rotasafe.StageCurrent)
	s.Read = time.Since(t0)
	if err != nil {
		return s, fmt.Errorf("floor: reading secret %q: %w", secretID, err)
	}

	// The login counts parsing the answer and building the driver's connector, as a
	// client's first login with a new version does.
	t0 = time.Now()
	if sec, err = parse(v); err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	good, err := drv.Connector(sec, params)
	if err != nil {
		return s, fmt.Errorf("floor: secret %q: %w", secretID, err)
	}
	conn, err = good.Connect(ctx)
	s.Login = time.Since(t0)
	if err != nil {
		return s, fmt.Errorf("floor: logging in with secret %q: %w", secretID, err)
	}
	conn.Close()
	return s, nil
}

// parse reads the database secret of v from SecretString, or SecretBinary when that is
// where the value is, as sqlconn does.
func parse(v rotasafe.Version) (rotasafe.DBSecret, error) {
	if v.SecretString == "" && v.SecretBinary != nil {
		return rotasafe.ParseDBSecret(v.SecretBinary)
	}
	return rotasafe.ParseDBSecret([]byte(v.SecretString))
}
