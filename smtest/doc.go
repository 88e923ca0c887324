// Package smtest runs an in-process AWS Secrets Manager for tests and demos, the way
// net/http/httptest runs an HTTP server: it speaks the real wire protocol (AWS JSON 1.1), so
// the real aws-sdk-go-v2 client talks to it, and it models the staging-label rules,
// ClientRequestToken idempotency, deletion and RotateSecret as AWS documents them and as the
// real service was recorded answering.
//
// Two lines in a test give a server and a client wired to it; the server closes itself when
// the test ends:
//
//	s := smtest.New(t)
//	client := s.Client()
//	_, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
//		Name: aws.String("prod/db"), SecretString: aws.String(`{"password":"..."}`)})
//
// Tests can count the requests per operation ([Server.Calls]), inject faults through
// [Server.Faults] (latency, errors, throttling at a set rate, a full outage), and register rotation functions that
// RotateSecret invokes, either in-process ([Server.RegisterRotationFunc]) or through a
// Lambda invoke URL such as the Lambda Runtime Interface Emulator serves
// ([Server.RegisterRotationURL]).
//
// # Fidelity
//
// The server follows AWS's documented and recorded behaviour (its conformance tests, numbered
// as the project's wire notes number the cases, pin each one), and makes these choices where
// AWS's is unrecorded:
//
//   - RotateSecret runs the steps synchronously inside the request, then answers 200 even
//     when a step failed; [Server.LastRotationError] tells what happened. Each rotation
//     gets a fresh RotationToken (a UUID). While a rotation runs, PutSecretValue with a
//     different RotationToken gets AccessDeniedException; outside a rotation any well-formed
//     RotationToken is accepted. The server does not retry a failed rotation by itself: the
//     next RotateSecret gets InvalidRequestException while AWSPENDING sits on a version
//     other than AWSCURRENT, and [Server.TriggerRotation] re-runs it with its token, as
//     AWS's retry does.
//   - UpdateSecretVersionStage with an unknown version ID, or removing a label the version
//     lacks, gets InvalidParameterException; removing AWSCURRENT without moving it is refused.
//   - ClientRequestToken must be 32–64 characters (ValidationException otherwise), as on AWS.
//   - ListSecrets sorts by creation date, oldest first, unless SortBy/SortOrder say otherwise.
//   - A secret past its recovery window disappears at the next request (by the server's
//     clock, see [WithClock]).
//   - [Faults.FailAt] counts requests to known operations only.
//
// The server never logs or returns secret values in errors; its request log holds operation
// names only.
package smtest
