// Package redisconn gives applications a go-redis client whose logins survive Redis ACL
// password rotations: new connections log in with the credentials of a Secrets Manager
// secret read through a [cache.Cache], and a login Redis rejects because a rotation removed
// its password is retried with the refreshed AWSCURRENT, then AWSPENDING and AWSPREVIOUS.
// It is the Redis sibling of sqlconn; the rotator it works with is rotate/redisacl.
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	rdb := redisconn.NewClient(c, "prod/app/redis", nil) // address from the secret
//	err := rdb.Ping(ctx).Err()
//
// No error or log line holds a password or a secret value.
package redisconn
