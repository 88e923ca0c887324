// Package redisacl rotates the password of a Redis ACL user (Redis 6 and later) without a
// moment in which the application cannot log in: a Redis user holds several passwords at
// once, so the new one is added while the old one keeps working, and the oldest is removed
// on the next rotation. It is the rotator side: [Strategy] for package rotate's Handler.
// Applications log in with package redisconn, which picks up the rotated passwords.
//
// The rotator, as an AWS Lambda function; the secret's masterarn names the secret of a user
// allowed to run ACL SETUSER:
//
//	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), redisacl.Strategy())
//	lambda.Start(h.Handle)
//
// The rotation sends Redis passwords only as SHA-256 hashes (ACL SETUSER's #<hash> form), so
// the change, ACL LIST, ACL GETUSER and an ACL file hold no password (a login, AUTH or HELLO,
// sends its password as Redis requires); no error or log line holds a secret value. The
// part that is not Redis (keep exactly the AWSCURRENT and AWSPENDING credentials valid) is
// rotate.MultiCredentialStrategy, which serves any service whose users hold several
// credentials.
package redisacl
