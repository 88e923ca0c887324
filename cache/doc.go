// Package cache is a caching reader of AWS Secrets Manager secrets that stays correct while
// the secrets rotate. It is what an application (and package sqlconn) reads credentials
// through: a hit is a map lookup and an atomic load, and Secrets Manager sees one call per
// secret per TTL, per forced refresh window and per failure backoff, however many
// goroutines ask.
//
//	c := cache.New(client, cache.WithTTL(15*time.Minute), cache.WithMaxStale(time.Hour))
//	defer c.Close()
//	v, err := c.Get(ctx, "prod/app/db")             // AWSCURRENT, from the cache when fresh
//	db, v, err := cache.GetParsed(ctx, c, "prod/app/db", parseDB) // parsed once per version
//	...
//	// the database rejected v's credentials: one GetSecretValue for every caller at once
//	v, err = c.RefreshStale(ctx, "prod/app/db", v.ID)
//	vs, err := c.Candidates(ctx, "prod/app/db")     // AWSCURRENT, AWSPENDING, AWSPREVIOUS
//
// Entries are kept per (secret ID, staging label), bounded by a least-recently-used list
// (hashicorp/golang-lru/v2) and expire after a jittered TTL. An entry that is read in the
// last part of its TTL is refreshed in the background, so steady-state reads never wait on
// Secrets Manager. When Secrets Manager is unreachable, failing with a server error or
// throttling, the last good version is served up to a maximum staleness past its expiry;
// ResourceNotFoundException, AccessDeniedException and other answers about the secret
// itself are returned at once. Failed fetches back off with jitter.
//
// A Cache starts goroutines (a coarse clock, background refreshes, warm-up); Close stops
// them and waits for them. Nothing the cache logs or returns holds a secret value: errors
// and log lines name the secret ID, the staging label, the version ID and the cause.
package cache
