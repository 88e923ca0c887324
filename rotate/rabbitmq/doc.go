// Package rabbitmq rotates the password of a RabbitMQ user, a service AWS ships no rotation
// template for, through the broker's management API (the management plugin): [Strategy]
// alternates between the user and a clone (scenario 2, rotate.ScenarioAlternatingUsers),
// changed by an administrator whose secret the masterarn field names, so that no
// application login is ever refused. That matters on RabbitMQ more than elsewhere: the broker
// answers a refused AMQP login only after a delay of seconds, and connections opened with an
// old password stay open after it changes.
//
// The rotator, as an AWS Lambda function (examples/lambda-rabbitmq):
//
//	h := rotate.NewHandler(secretsmanager.NewFromConfig(cfg), rabbitmq.Strategy())
//	lambda.Start(h.Handle)
//
// Passwords reach the broker only as salted SHA-256 hashes (password_hash with
// hashing_algorithm rabbit_password_hashing_sha256, computed here), so neither the
// management API's requests nor the broker's log ever hold one; no error or log line holds
// a secret value. Applications log in with package login, trying AWSCURRENT and, after a
// refusal, AWSPENDING.
package rabbitmq
