package smtest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/smtest"
)

func ExampleServer() {
	s := smtest.NewServer()
	defer s.Close()
	client := s.Client()
	ctx := context.Background()

	_, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("prod/app/db"),
		SecretString: aws.String("first"),
	})
	if err != nil {
		panic(err)
	}
	_, err = client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String("prod/app/db"),
		SecretString: aws.String("second"),
	})
	if err != nil {
		panic(err)
	}
	prev, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String("prod/app/db"),
		VersionStage: aws.String("AWSPREVIOUS"),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(*prev.SecretString, prev.VersionStages)
	fmt.Println("GetSecretValue calls:", s.Calls("GetSecretValue"))
	// Output:
	// first [AWSPREVIOUS]
	// GetSecretValue calls: 1
}
