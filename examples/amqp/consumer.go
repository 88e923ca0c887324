package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Consumer consumes a queue with manual acks and keeps consuming through rotations of the
// secret and lost connections. A message is acked only after its handler returned nil, so
// a connection lost before the ack gets it delivered again; the Consumer remembers the
// message IDs it handled and acks such a copy (or a publisher's retry) without handling it.
type Consumer struct {
	d        *dialer
	name     string // connection_name
	top      topology
	prefetch int // unacked deliveries the broker may send ahead
	logger   *slog.Logger
	seen     *idSet // message IDs handled; only Run's goroutine uses it

	connects   atomic.Int64 // connections opened
	handled    atomic.Int64 // deliveries handed to the handler with nil result
	duplicates atomic.Int64 // deliveries dropped as already handled
}

func newConsumer(d *dialer, name string, top topology, prefetch, remember int) *Consumer {
	return &Consumer{d: d, name: name, top: top, prefetch: max(prefetch, 1), logger: d.logger, seen: newIDSet(remember)}
}

// Run consumes until ctx ends, then returns nil; it reconnects whenever the connection or
// channel closes. It returns an error only when the walker gives up logging in (a
// *rotasafe.ConnectError: the broker was unreachable, or refused every version, for the
// whole retry budget). handle runs on Run's goroutine, one delivery at a time; when it
// fails, the delivery is requeued.
func (c *Consumer) Run(ctx context.Context, handle func(context.Context, amqp.Delivery) error) error {
	for {
		var deliveries <-chan amqp.Delivery
		s, err := c.d.open(ctx, c.name, func(ch *amqp.Channel) error {
			if err := c.top.declare(ch); err != nil {
				return err
			}
			if err := ch.Qos(c.prefetch, 0, false); err != nil {
				return err
			}
			var err error
			deliveries, err = ch.Consume(c.top.queue, "", false, false, false, false, nil)
			return err
		})
		if ctx.Err() != nil {
			if s != nil {
				s.close()
			}
			return nil
		}
		if err != nil {
			return err
		}
		c.connects.Add(1)
		c.consume(ctx, deliveries, handle)
		s.close()
		if ctx.Err() != nil {
			return nil
		}
		c.logger.Info("amqp: connection lost, reconnecting", "connection", c.name, "reason", s.reason())
	}
}

// consume handles deliveries until the channel closes or ctx ends.
func (c *Consumer) consume(ctx context.Context, deliveries <-chan amqp.Delivery, handle func(context.Context, amqp.Delivery) error) {
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return
		case d, ok = <-deliveries:
			if !ok {
				return
			}
		}
		if d.MessageId != "" && c.seen.has(d.MessageId) {
			c.duplicates.Add(1)
			_ = d.Ack(false) // a failed ack: the copy comes again and is dropped again
			continue
		}
		if err := handle(ctx, d); err != nil {
			c.logger.Warn("amqp: handler failed, message requeued", "connection", c.name, "message_id", d.MessageId, "error", err)
			_ = d.Nack(false, true)
			continue
		}
		c.seen.add(d.MessageId)
		c.handled.Add(1)
		_ = d.Ack(false) // a failed ack: the broker delivers it again, and seen drops it
	}
}

// idSet remembers the last n message IDs added, for de-duplication. A copy that arrives
// after n others were handled is handled again: size n above what can be in flight
// (prefetch, plus the publisher's window, plus what a reconnect requeues). It is not safe
// for concurrent use.
type idSet struct {
	ids  map[string]struct{}
	ring []string // insertion order; next overwrites the oldest
	next int
}

func newIDSet(n int) *idSet {
	return &idSet{ids: make(map[string]struct{}, max(n, 1)), ring: make([]string, max(n, 1))}
}

func (s *idSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *idSet) add(id string) {
	if id == "" || s.has(id) {
		return
	}
	delete(s.ids, s.ring[s.next])
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
}
