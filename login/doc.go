// Package login logs in to a service whose credentials AWS Secrets Manager rotates, and
// keeps logging in through the rotation: hand a Walker a Try, one login with a secret
// version's credentials that marks how it failed, and the Walker chooses the version, walks
// the staging labels after a rejection, holds logins back while every version is rejected,
// and retries. sqlconn, pgxpoolconn and redisconn are Walkers with a Try each; a client for
// another service is one more (see the example).
//
//	w := login.New(c, "prod/app/queue", login.WithClient("queueconn"))
//	var conn *queue.Conn
//	_, err := w.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
//		var err error
//		conn, err = queue.Dial(ctx, addr, v.SecretString)
//		switch {
//		case errors.Is(err, queue.ErrBadPassword):
//			return login.Rejected(err)
//		case errors.Is(err, queue.ErrBusy):
//			return login.Transient(err)
//		}
//		return err // nil, or a failure that gives up at once
//	})
//
// The walk's rules:
//
//   - A login uses the Source's preferred version (rotasafe.Preferrer), else the version that
//     last worked while AWSCURRENT is still the one it worked under, else AWSCURRENT.
//   - After a rejection the walk reads AWSPENDING once (Source.Reread): during a single-user
//     rotation it holds the password the service just took, and after finishSecret it sits
//     on the new AWSCURRENT too, so that one read both finds the new password and tells
//     whether AWSCURRENT moved. AWSCURRENT is read again only when that answer does not say
//     where it is, and AWSPREVIOUS only when nothing newer logs in (WithoutFallback leaves
//     AWSCURRENT alone). A read whose version is rejected too is asked again, past it.
//   - The version that worked is kept until AWSCURRENT changes; a preferred version the
//     service rejects is not preferred again.
//   - After a round in which every version was rejected, the Walker's lockout gate holds
//     every login back for a jittered wait that grows with each such round; then one login
//     probes while the others wait for its outcome. The gate opens when a login works or
//     AWSCURRENT changes.
//   - Transient failures are retried with the policy's jittered waits. An Unusable version
//     is skipped; any other failure gives up at once.
//   - A Login ends within the context's deadline, or within the policy's MaxElapsed
//     (DefaultMaxElapsed by default) when the context has none, with a
//     *rotasafe.ConnectError that names the secret and the versions tried, never a value.
//
// Metrics: every attempt is recorded in rotasafe.login.attempts (client, stage of the
// version tried, outcome ok/rejected/transient/other) and timed in rotasafe.login.duration,
// on OpenTelemetry's global MeterProvider unless WithMeterProvider names one.
package login
