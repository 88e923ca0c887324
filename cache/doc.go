// Package cache keeps AWS Secrets Manager secrets in memory for an application and stays
// correct while they rotate: a read of a cached secret costs about a map lookup, and a
// rotation costs each process about one Secrets Manager call. Applications read credentials
// through it directly or through sqlconn, pgxpoolconn and redisconn, for which a *Cache is
// the rotasafe.Source.
//
//	c := cache.New(secretsmanager.NewFromConfig(cfg))
//	defer c.Close()
//	v, err := c.Get(ctx, "prod/app/db") // AWSCURRENT: a map lookup and an atomic load when fresh
//	...
//	// The database rejected v's password: read AWSPENDING, once for every caller at once.
//	p, err := c.Reread(ctx, "prod/app/db", rotasafe.StagePending, v.ID)
//
// Entries are kept per (secret ID, staging label), bounded by an LRU list, and expire after
// a jittered TTL; an entry read near its expiry is refreshed in the background. While
// Secrets Manager is unreachable, failing or throttling, the last good version is served up
// to a maximum staleness; answers about the secret itself (not found, access denied) are
// returned at once. Concurrent reads share one call, and forced reads (Refresh, Reread) are
// floored per reason, so a fleet-wide failure storm costs one call per process.
//
// Close stops the goroutines a Cache starts. Nothing it logs or returns holds a secret value.
//
// Metrics, on OpenTelemetry's global MeterProvider unless WithMeterProvider names one:
// rotasafe.cache.reads (each GetSecretValue by stage and outcome) and read.duration,
// rotasafe.cache.stale_served, rotasafe.cache.hits and misses (read from the counters Stats
// reports when the provider collects: a hit records nothing), and rotasafe.notices.received.
package cache
