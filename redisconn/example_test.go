package redisconn_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/redisconn"
)

// An application's Redis client: the address and the credentials come from the secret, and
// new connections pick up rotated passwords.
func ExampleNewClient() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c := cache.New(secretsmanager.NewFromConfig(cfg))
	defer c.Close()
	rdb := redisconn.NewClient(c, "prod/app/redis", &redis.Options{PoolSize: 20})
	defer rdb.Close()
	if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		log.Fatal(err) // never holds a password
	}
}

// Credentials fits a client made elsewhere: its provider and its hook together.
func ExampleCredentials() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c := cache.New(secretsmanager.NewFromConfig(cfg))
	defer c.Close()
	creds := redisconn.NewCredentials(c, "prod/app/redis")
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", CredentialsProviderContext: creds.Provide})
	rdb.AddHook(creds)
	defer rdb.Close()
	fmt.Println(rdb.Ping(ctx).Err())
}
