// Package redisacl rotates the password of a Redis ACL user (Redis 6 and later) without a
// moment in which the application cannot log in: a Redis user holds several passwords at
// once, so the new one is added while the old one keeps working, and the oldest is removed
// on the next rotation. It has both sides of the rotation: [Strategy] for the rotator
// (package rotate's Handler) and [NewClient] for applications.
//
// The rotator, as an AWS Lambda function; the secret's masterarn names the secret of a user
// allowed to run ACL SETUSER:
//
//	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), redisacl.Strategy())
//	lambda.Start(h.Handle)
//
// The application reads the credentials through a cache and logs in again with fresh ones
// when Redis rejects a stale password:
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	rdb := redisacl.NewClient(c, "prod/app/redis", nil) // address from the secret
//	err := rdb.Ping(ctx).Err()
//
// The rotation sends Redis passwords only as SHA-256 hashes (ACL SETUSER's #<hash> form), so
// the change, ACL LIST, ACL GETUSER and an ACL file hold no password (a login, AUTH or HELLO,
// sends its password as Redis requires); no error or log line holds a secret value. The
// part that is not Redis (keep exactly the AWSCURRENT and AWSPENDING credentials valid) is
// [MultiCredentialStrategy] over the [MultiCredential] interface, for other services whose
// users hold several credentials.
package redisacl
