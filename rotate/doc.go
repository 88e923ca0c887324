// Package rotate is the rotator side of an AWS Secrets Manager rotation: a [Handler] runs the
// four steps Secrets Manager asks a rotation function for (createSecret, setSecret,
// testSecret, finishSecret), and a [Strategy] says what each step means for one kind of
// service: [PostgresSingleUser] and [PostgresAlternatingUsers]; for MySQL and MariaDB
// [MySQLSingleUser], [MySQLAlternatingUsers] and [MySQLDualPassword]; Redis ACL users in
// package rotate/redisacl, RabbitMQ users in rotate/rabbitmq. For another service, write a
// Strategy for the [Scenario] it supports ([MultiCredentialStrategy] does scenario 3 for any
// service that implements [MultiCredential]) and prove it with package rotate/rotatetest.
// Every step may run again after a failure and ends in the same state; no error or log line
// holds a secret value.
//
// As an AWS Lambda function:
//
//	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rotate.PostgresSingleUser())
//	lambda.Start(h.Handle)
//
// In process, for a scheduled job, a test or a demo, on a secret with or without rotation
// configured:
//
//	versionID, err := h.Rotate(ctx, "prod/app/db")
//
// [Option] values configure the Handler (logging, password generation); [DBOption] values
// configure a database strategy (TLS, connect timeout, the user that changes passwords).
// Passwords reach PostgreSQL only as SCRAM-SHA-256 verifiers, and MySQL or MariaDB only as
// mysql_native_password hashes, both computed here, so the server and its logs never see them.
//
// Metrics: each step run is recorded in rotasafe.rotation.steps (step, outcome ok/error) and
// timed in rotasafe.rotation.step.duration, and each notice published in
// rotasafe.notices.published, on OpenTelemetry's global MeterProvider unless
// WithMeterProvider names one.
package rotate
