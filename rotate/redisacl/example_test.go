package redisacl_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/rotate/redisacl"
)

// A rotation Lambda function for a Redis ACL user. The secret holds host, port, username,
// password and masterarn, the ARN of the secret of a user allowed to run ACL SETUSER.
func ExampleStrategy() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), redisacl.Strategy(redisacl.WithACLSave()))
	lambda.Start(h.Handle)
}

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
	rdb := redisacl.NewClient(c, "prod/app/redis", &redis.Options{PoolSize: 20})
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
	creds := redisacl.NewCredentials(c, "prod/app/redis")
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", CredentialsProviderContext: creds.Provide})
	rdb.AddHook(creds)
	defer rdb.Close()
	fmt.Println(rdb.Ping(ctx).Err())
}

// What ACL SETUSER receives, and ACL GETUSER shows, instead of the password.
func ExamplePasswordHash() {
	fmt.Println(redisacl.PasswordHash("foobar"))
	// Output: #c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2
}
