package sqlconn

import "github.com/rotasafe/rotasafe"

// ConnectError is the error Connect returns when it gives up: the secret, every version
// tried with its label and why it failed, and the final cause, which errors.As reaches (a
// *pgconn.PgError, a *retry.ExhaustedError, context.DeadlineExceeded). It never holds a
// password. It is rotasafe.ConnectError, named here for errors.As at the call site.
type ConnectError = rotasafe.ConnectError

// Attempt is one login a Connect tried: rotasafe.Attempt.
type Attempt = rotasafe.Attempt
