// Command amqp is a RabbitMQ publisher and consumer whose credentials AWS Secrets Manager
// rotates: both log in through package login with the secret that rotate/rabbitmq rotates
// (examples/lambda-rabbitmq), and keep going through every rotation and every lost
// connection without an error reaching the application. Copy dial.go, publisher.go and
// consumer.go into your program.
//
//	SECRET_ID=prod/app/amqp go run ./examples/amqp
//
// It publishes a message a second to the exchange app.events and consumes them from the
// queue app.events, until interrupted. The publisher uses publisher confirms and publishes
// again what a lost connection left unconfirmed; the consumer acks by hand and drops copies
// by message ID. Point AWS_ENDPOINT_URL_SECRETS_MANAGER at `go run ./smtest/cmd/smtest` to
// try it without AWS.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
)

// The example's topology; the names start with "app." to fit the permissions
// internal/testserver/rabbittest gives application users.
var appEvents = topology{exchange: "app.events", queue: "app.events", key: "app.events"}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	secretID := os.Getenv("SECRET_ID")
	if secretID == "" {
		logger.Error("set SECRET_ID to the name or ARN of the RabbitMQ secret")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		logger.Error("AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	secrets := cache.New(secretsmanager.NewFromConfig(cfg), cache.WithLogger(logger))
	defer secrets.Close()
	d := &dialer{walker: login.New(secrets, secretID, login.WithClient("amqp-example"), login.WithLogger(logger)), logger: logger}

	if err := run(ctx, d); err != nil {
		logger.Error("amqp example", "error", err.Error())
		os.Exit(1)
	}
	st := d.walker.Stats()
	logger.Info("done", "connects", st.Connects, "logins", st.Logins, "refused", st.Rejected.Total())
}

// run publishes a message a second and logs what it consumes, until ctx ends.
func run(ctx context.Context, d *dialer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cons := newConsumer(d, "amqp-example consumer", appEvents, 50, 100_000)
	pub := newPublisher(d, "amqp-example publisher", appEvents, 100)
	defer pub.Close()

	var wg sync.WaitGroup
	var consErr error
	wg.Go(func() {
		defer cancel()
		consErr = cons.Run(ctx, func(_ context.Context, m amqp.Delivery) error {
			d.logger.Info("consumed", "message_id", m.MessageId, "body", string(m.Body))
			return nil
		})
	})
	runID := rand.Text()[:8] // message IDs unique across runs
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var pubErr error
	for i := 1; pubErr == nil && ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			pubErr = pub.Publish(ctx, fmt.Sprintf("%s-%d", runID, i), fmt.Appendf(nil, "tick %d", i))
		}
	}
	if pubErr == nil { // interrupted: wait a little for the last confirms
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		pubErr = pub.Flush(fctx)
		fcancel()
	}
	cancel()
	wg.Wait()
	if pubErr != nil && !errors.Is(pubErr, context.Canceled) {
		return pubErr
	}
	return consErr
}
