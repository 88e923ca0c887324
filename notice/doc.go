// Package notice lets a rotation function tell a fleet of applications that a rotation step
// took effect, so that they try the new password before their logins fail. A [Notice] names
// the secret's ARN, the version and what happened ([PendingStored], [PasswordChanged],
// [Finished]); never a value, a username or a token. It travels over a [Transport]: Redis
// publish/subscribe (package notice/redisnotice) or NATS core (package notice/natsnotice),
// or one of your own.
//
// The rotator publishes through an option of its handler:
//
//	t := redisnotice.New(redisClient)
//	h := rotate.NewHandler(client, rotate.PostgresSingleUser(), rotate.WithNotices(t))
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
// password that Secrets Manager does not hold. At most it makes a listener read the named
// version from Secrets Manager (reads bounded as every forced read is, by the cache's
// refresh floor) and try it first once; a version that Secrets Manager does not label
// AWSPENDING or AWSCURRENT is ignored, and a version the database rejects is dropped and
// never used again. Forged notices can delay nothing but the notice path itself: the pull
// path keeps working. Notices and their errors are logged by kind, secret ARN and version
// ID only.
package notice
