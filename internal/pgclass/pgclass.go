// Package pgclass says what kind of failure a PostgreSQL login through pgx v5 met, for the
// clients that log in to PostgreSQL: sqlconn's Postgres driver and pgxpoolconn. Both
// classify the same way, so that a rotation looks the same through database/sql and through
// a pgx pool.
//
//	class := pgclass.Classify(err) // rotasafe.ClassAuth: try the secret's other labels
package pgclass

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/netclass"
)

// Classify sorts a pgx connect error into rotasafe.ClassAuth, ClassTransient or ClassOther.
// err may wrap the driver's error any number of times.
//
// SQLSTATE 28P01 (invalid_password) and 28000 (invalid_authorization_specification, which
// RDS Proxy and pg_hba.conf rejections use) are ClassAuth; 53300 (too_many_connections),
// 53000, 57P01 (admin_shutdown), 57P02, 57P03 (cannot_connect_now), the connection
// exceptions 08000, 08001, 08003, 08004 and 08006, errors pgconn marks safe to retry,
// timeouts, refused or reset connections and an EOF during startup are ClassTransient. A
// cancelled context and anything else is ClassOther.
func Classify(err error) rotasafe.Class {
	if err == nil {
		return rotasafe.ClassOther
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "28P01", "28000":
			return rotasafe.ClassAuth
		case "53300", "53000", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006":
			return rotasafe.ClassTransient
		}
		return rotasafe.ClassOther
	}
	if errors.Is(err, context.Canceled) {
		return rotasafe.ClassOther
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return rotasafe.ClassTransient
	}
	return netclass.Classify(err)
}

// Engine reports whether the engine field of a database secret names a PostgreSQL-speaking
// engine: empty, "postgres", "postgresql", "aurora-postgresql" or "redshift", in any case.
func Engine(engine string) bool {
	switch strings.ToLower(engine) {
	case "", "postgres", "postgresql", "aurora-postgresql", "redshift":
		return true
	}
	return false
}
