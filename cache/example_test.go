package cache_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/smtest"
)

// A connector reads credentials through the cache, parses them once per version, and asks
// for a refresh when the database rejects them.
func Example() {
	srv := smtest.NewServer() // stands in for Secrets Manager; pass your *secretsmanager.Client
	defer srv.Close()
	client := srv.Client()
	ctx := context.Background()
	_, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("prod/app/db"),
		SecretString: aws.String(`{"engine":"postgres","host":"db.internal","username":"app","password":"s3cret-1"}`),
	})
	if err != nil {
		panic(err)
	}

	c := cache.New(client)
	defer c.Close()
	parse := func(v rotasafe.Version) (rotasafe.DBSecret, error) {
		return rotasafe.ParseDBSecret([]byte(v.SecretString))
	}
	for range 3 {
		db, v, err := cache.GetParsed(ctx, c, "prod/app/db", parse)
		if err != nil {
			panic(err)
		}
		_ = v
		fmt.Println(db) // the password is redacted
	}

	// The secret rotates; the database rejects the cached password.
	used, _ := c.Get(ctx, "prod/app/db")
	_, err = client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String("prod/app/db"),
		SecretString: aws.String(`{"engine":"postgres","host":"db.internal","username":"app","password":"s3cret-2"}`),
	})
	if err != nil {
		panic(err)
	}
	v, err := c.Reread(ctx, "prod/app/db", rotasafe.StageCurrent, used.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("new version:", v.ID != used.ID)
	st := c.Stats()
	fmt.Printf("hits %d, API calls %d, parses %d\n", st.Hits, st.APICalls, st.Parses)
	// Output:
	// rotasafe.DBSecret{Engine:"postgres" Host:"db.internal" Port:0 Username:"app" DBName:"" Password:[REDACTED]}
	// rotasafe.DBSecret{Engine:"postgres" Host:"db.internal" Port:0 Username:"app" DBName:"" Password:[REDACTED]}
	// rotasafe.DBSecret{Engine:"postgres" Host:"db.internal" Port:0 Username:"app" DBName:"" Password:[REDACTED]}
	// new version: true
	// hits 3, API calls 2, parses 1
}
