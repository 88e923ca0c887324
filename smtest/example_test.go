package smtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
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

func ExampleServer_RegisterRotationFunc() {
	s := smtest.NewServer()
	defer s.Close()
	client := s.Client()
	ctx := context.Background()
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("old")}); err != nil {
		panic(err)
	}

	// A rotation function that fails at testSecret: RotateSecret still succeeds, as on AWS,
	// and the failure is kept for the test to inspect.
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db"
	s.RegisterRotationFunc(arn, func(ctx context.Context, ev rotasafe.Event) error {
		fmt.Println("step", ev.Step)
		if ev.Step == rotasafe.StepCreateSecret {
			_, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken,
				SecretString: aws.String("new"), VersionStages: []string{rotasafe.StagePending},
			})
			return err
		}
		if ev.Step == rotasafe.StepTestSecret {
			return errors.New("new password rejected")
		}
		return nil
	})
	out, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("db"), RotationLambdaARN: aws.String(arn)})
	if err != nil {
		panic(err)
	}
	var re *smtest.RotationError
	if errors.As(s.LastRotationError("db"), &re) {
		fmt.Println("failed at", re.Step)
	}
	fmt.Println("pending:", s.Stages("db")[*out.VersionId])
	// Output:
	// step createSecret
	// step setSecret
	// step testSecret
	// failed at testSecret
	// pending: [AWSPENDING]
}

func ExampleServer_Faults() {
	s := smtest.NewServer()
	defer s.Close()
	// One attempt per call, so that each injected fault reaches the caller.
	client := s.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("v1")}); err != nil {
		panic(err)
	}
	get := func() string {
		_, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
		if err != nil {
			return rotasafe.ErrorCode(err)
		}
		return "ok"
	}

	s.Faults().FailNext("GetSecretValue", 1, "InternalServiceError")
	fmt.Println(get(), get())
	s.Faults().Outage(true)
	fmt.Println(get())
	s.Faults().Clear()
	fmt.Println(get())
	fmt.Println("GetSecretValue:", s.Calls("GetSecretValue"), "all:", s.Calls(""))
	// Output:
	// InternalServiceError ok
	// ServiceUnavailable
	// ok
	// GetSecretValue: 4 all: 5
}
