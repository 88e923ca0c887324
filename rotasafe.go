// Package rotasafe is the label-aware core shared by both sides of an AWS Secrets Manager
// rotation: applications that read credentials (packages cache and sqlconn) and rotation
// functions that change them (package rotate).
//
// It holds what both sides must agree on: the staging labels (AWSCURRENT, AWSPENDING,
// AWSPREVIOUS), the narrow [API] the module calls on Secrets Manager, a fetched [Version]
// and the [Stages] map, the documented database secret JSON ([DBSecret]), the rotation
// [Event], and [Promote], the label move that ends a rotation. Every type that can hold a
// secret value redacts it from fmt, log/slog and encoding/json output.
//
//	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/app/db")})
//	if err != nil { ... }
//	v := rotasafe.NewVersion(out)
//	db, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
//	fmt.Println(v, db) // values are never printed
package rotasafe

// The staging labels Secrets Manager gives a rotation meaning. A label sits on at most one
// version of a secret at a time.
const (
	// StageCurrent marks the version applications should use.
	StageCurrent = "AWSCURRENT"
	// StagePending marks the version a rotation is creating, setting and testing. Outside a
	// rotation it is absent or sits on the AWSCURRENT version.
	StagePending = "AWSPENDING"
	// StagePrevious marks the version that held AWSCURRENT before the last move. Secrets
	// Manager moves it automatically whenever AWSCURRENT moves.
	StagePrevious = "AWSPREVIOUS"
)

// redacted replaces every secret value in printed or marshalled output.
const redacted = "[REDACTED]"
