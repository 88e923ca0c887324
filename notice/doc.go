// Package notice lets a rotation function tell a fleet of applications that a rotation step
// took effect, so that they try the new password before their logins fail. A [Notice] names
// the secret's ARN, the version and what happened ([PendingStored], [PasswordChanging],
// [PasswordChanged], [Finished]); never a value, a username or a token. It travels over a [Transport]: Redis
// publish/subscribe (package notice/redisnotice) or NATS core (package notice/natsnotice),
// or one of your own.
//
// The rotator publishes through an option of its handler, and applications listen through
// their cache, which sqlconn, redisconn and pgxpoolconn read from:
//
//	h := rotate.NewHandler(client, rotate.PostgresSingleUser(), rotate.WithNotices(redisnotice.New(rdb)))
//	...
//	c := cache.New(client, cache.WithNotices(redisnotice.New(rdb)))
//
// Notices are hints, delivered at most once. Applications keep reading Secrets Manager as
// they would without them, and every version a notice names is read from Secrets Manager and
// proved by the database before it is used; a lost notice costs what a rotation costs
// without notices.
//
// # Who may publish
//
// Anyone who can publish on the channel can send notices, so restrict it to the rotator:
//
//   - Redis: give channel access by ACL channel patterns, and the PUBLISH command to the
//     rotator's user only. For the rotator,
//     "ACL SETUSER rotator on >... resetchannels &rotasafe:* -@all +publish +ping +hello";
//     for applications, "... resetchannels &rotasafe:* -@all +subscribe +unsubscribe +ping +hello"
//     (a user that also reads data adds its key patterns and commands, and keeps -publish).
//     Redis checks channel patterns on PUBLISH and SUBSCRIBE alike; the command list is what
//     tells a publisher from a subscriber.
//   - NATS: subject permissions, in the server's authorization block, for example
//     rotator: publish "rotasafe.notices", subscribe nothing; applications: subscribe
//     "rotasafe.notices", publish nothing on it.
//
// # What a forged notice can do
//
// A notice carries no credential, so a forged one cannot make an application log in with a
// password that Secrets Manager does not hold, nor make it accept a version the database
// rejects: the database has the last word on every login. What it can cost is bounded:
//
//   - reads: a listener reads the named version from Secrets Manager only for secrets it
//     uses, at most three at once and then one per refresh floor (MinRefreshInterval) per
//     secret, and offers it only if Secrets Manager labels it AWSPENDING or AWSCURRENT;
//     versions that do not exist, old versions and other secrets' notices are dropped;
//   - logins: a real AWSPENDING version announced as changed (or finished) before the
//     database took it is tried first once per instance, rejected, and not preferred again;
//     that instance then reads AWSCURRENT once (floored as every forced read) and logs in as
//     before;
//   - waits: a password-changing notice holds new logins for at most the listener's hold
//     bound (cache.WithNoticeHold), once per version, and only for a version the listener
//     read from Secrets Manager and found labelled AWSPENDING.
//
// Forged notices never stop the pull path, which keeps working with or without notices.
// Notices and their errors are logged by kind, secret ARN and version ID only.
package notice
