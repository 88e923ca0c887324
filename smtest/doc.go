// Package smtest runs an in-process AWS Secrets Manager for tests and demos, the way
// net/http/httptest runs an HTTP server: it speaks the real wire protocol (AWS JSON 1.1), so
// the real aws-sdk-go-v2 client talks to it, and it models the staging-label rules,
// ClientRequestToken idempotency, deletion and RotateSecret as shared/sm-wire-spec.md
// describes them.
//
// Two lines in a test give a server and a client wired to it; the server closes itself when
// the test ends:
//
//	s := smtest.New(t)
//	client := s.Client()
//	_, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
//		Name: aws.String("prod/db"), SecretString: aws.String(`{"password":"..."}`)})
//
// Tests can count the requests per operation ([Server.Calls]), inject faults (latency,
// errors, throttling at a set rate, a full outage), and register rotation functions that
// RotateSecret invokes, either in-process ([Server.RegisterRotationFunc]) or through a
// Lambda invoke URL such as the Lambda Runtime Interface Emulator serves
// ([Server.RegisterRotationURL]).
//
// The server never logs or returns secret values in errors; its request log holds operation
// names only.
package smtest
