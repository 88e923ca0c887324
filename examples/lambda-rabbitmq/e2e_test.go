package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/testserver/lambdatest"
	"github.com/rotasafe/rotasafe/internal/testserver/rabbittest"
)

// TestLambdaUnderRIE builds the function, runs it under the Lambda Runtime Interface Emulator
// pointed at smtest, has smtest's RotateSecret invoke it three times, and logs in to a real
// RabbitMQ node over AMQP with each new AWSCURRENT (and AWSPREVIOUS, which alternating users
// keep). Neither the function's output nor the broker's log may hold a password.
func TestLambdaUnderRIE(t *testing.T) {
	lambdatest.FindRIE(t) // skip before the node's seconds of start
	rs := rabbittest.New(t)
	// secret is a user's secret on the node: the management API is on a port of its own.
	secret := func(t *testing.T, user, pw string) rotasafe.DBSecret {
		b, _ := json.Marshal(map[string]any{"host": rs.Host, "port": rs.AMQPPort, "management_url": rs.MgmtURL, "username": user, "password": pw})
		s, err := rotasafe.ParseDBSecret(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	passwords := lambdatest.Run(t, lambdatest.Function{
		Dir:        ".",
		Strategies: []string{"ALTERNATING_USERS"}, // the one strategy; ROTATION_STRATEGY is not read
		Admin:      secret(t, rs.AdminUser, rs.AdminPassword),
		NewUser: func(t *testing.T) rotasafe.DBSecret {
			user, pw := "app-"+strings.ToLower(lambdatest.Password()[2:10]), lambdatest.Password()
			if err := rs.CreateUser(t.Context(), user, pw); err != nil {
				t.Fatal(err)
			}
			return secret(t, user, pw)
		},
		Login: func(ctx context.Context, s rotasafe.DBSecret) error {
			conn, err := amqp.Dial(rs.AMQPURL(s.Username, s.Password))
			if err == nil {
				conn.Close()
			}
			return err
		},
		KeepsPrevious: func(string) bool { return true },
	})
	log, err := rs.ReadLog()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range append(passwords, rs.AdminPassword) {
		if strings.Contains(log, p) {
			t.Errorf("password %d is in the broker's log", i)
		}
	}
}
