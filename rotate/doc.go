// Package rotate is the rotator side of an AWS Secrets Manager rotation: a [Handler] that runs
// the four steps Secrets Manager asks a rotation function for (createSecret, setSecret,
// testSecret, finishSecret), and the [Strategy] values that say what each step means for one
// kind of service: [PostgresSingleUser] and [PostgresAlternatingUsers], [MySQLSingleUser],
// [MySQLAlternatingUsers] and [MySQLDualPassword] (MySQL and MariaDB) here, Redis ACL users in
// package rotate/redisacl.
//
// The handler owns the label logic every scenario shares (the guards of AWS's rotation
// templates, idempotent createSecret, the final label move) so that a strategy only derives,
// sets and tests a value. Every step may run again after a failure and ends in the same state.
//
// As an AWS Lambda function:
//
//	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rotate.PostgresSingleUser())
//	lambda.Start(h.Handle)
//
// In-process, for local use, tests and demos, [Rotate] drives the four steps the way Secrets
// Manager does, on a secret with or without rotation configured:
//
//	versionID, err := rotate.Rotate(ctx, client, "prod/app/db", h)
//
// Passwords reach PostgreSQL only as SCRAM-SHA-256 verifiers computed here ([SCRAMVerifier]),
// and MySQL or MariaDB only as mysql_native_password hashes ([NativePasswordHash]), so the
// server and its logs never see them; no error or log line holds a secret value.
package rotate
