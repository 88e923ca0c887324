package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// topology is where messages go: a durable direct exchange bound to a durable queue. Both
// sides declare it on every connection, so whichever starts first creates it.
type topology struct {
	exchange, queue, key string
}

func (t topology) declare(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(t.exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(t.queue, true, false, false, false, nil); err != nil {
		return err
	}
	return ch.QueueBind(t.queue, t.key, t.exchange, false, nil)
}

// Publisher publishes persistent messages with publisher confirms and keeps publishing
// through rotations of the secret and lost connections: a message counts as sent only when
// the broker confirms it, and every message not confirmed when a connection or channel
// closes (or that the broker nacks) is published again on the next one. A message may thus
// reach the queue twice; the Consumer drops the copy by message ID.
//
// A Publisher is not safe for concurrent use: give each publishing goroutine its own.
type Publisher struct {
	d      *dialer
	name   string // connection_name
	top    topology
	window int // messages that may await their confirm at once
	logger *slog.Logger

	sess     *session   // nil when not connected
	inflight []*pending // not yet confirmed, in publishing order

	connects    atomic.Int64 // connections opened
	republished atomic.Int64 // messages published again after a nack or a lost connection
}

// pending is one message awaiting its confirm.
type pending struct {
	msg  amqp.Publishing
	dc   *amqp.DeferredConfirmation // nil when it must be published (again)
	sent bool                       // published at least once
}

func newPublisher(d *dialer, name string, top topology, window int) *Publisher {
	return &Publisher{d: d, name: name, top: top, window: max(window, 1), logger: d.logger}
}

// Publish sends body as a persistent message with message ID id (a random one when empty)
// and returns once at most the window's size of messages await their confirm. It fails only
// when ctx ends or the walker gives up logging in; the message then stays queued in the
// Publisher, and the next Publish or Flush sends it.
func (p *Publisher) Publish(ctx context.Context, id string, body []byte) error {
	if id == "" {
		id = rand.Text()
	}
	p.inflight = append(p.inflight, &pending{msg: amqp.Publishing{
		MessageId: id, DeliveryMode: amqp.Persistent, Timestamp: time.Now(),
		ContentType: "application/octet-stream", Body: body,
	}})
	return p.confirm(ctx, p.window-1)
}

// Flush returns once the broker has confirmed every message published.
func (p *Publisher) Flush(ctx context.Context) error { return p.confirm(ctx, 0) }

// Close closes the connection. Messages not yet confirmed are dropped: Flush first.
func (p *Publisher) Close() {
	if p.sess != nil {
		p.sess.close()
		p.sess = nil
	}
}

// confirm publishes what is not on the broker yet and waits for confirms until at most
// limit messages await one.
func (p *Publisher) confirm(ctx context.Context, limit int) error {
	for {
		if err := p.publishAll(ctx); err != nil {
			return err
		}
		for len(p.inflight) > 0 && p.inflight[0].dc.Acked() {
			p.inflight[0] = nil
			p.inflight = p.inflight[1:]
		}
		if len(p.inflight) <= limit {
			return nil
		}
		head := p.inflight[0]
		select {
		case <-head.dc.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		if !head.dc.Acked() && (p.sess.ch.IsClosed() || p.sess.conn.IsClosed()) {
			// amqp091 nacks every open confirm when the channel closes.
			p.drop(p.sess.reason())
		}
	}
}

// publishAll publishes every message that awaits no confirm: new ones, nacked ones, and
// after a reconnect all that were not confirmed.
func (p *Publisher) publishAll(ctx context.Context) error {
	for {
		if p.sess == nil {
			s, err := p.d.open(ctx, p.name, func(ch *amqp.Channel) error {
				if err := p.top.declare(ch); err != nil {
					return err
				}
				return ch.Confirm(false)
			})
			if err != nil {
				return err
			}
			p.sess = s
			p.connects.Add(1)
		}
		var err error
		for _, m := range p.inflight {
			if m.dc != nil && !nacked(m.dc) {
				continue
			}
			if m.sent {
				p.republished.Add(1)
			}
			m.sent = true
			m.dc, err = p.sess.ch.PublishWithDeferredConfirmWithContext(ctx, p.top.exchange, p.top.key, false, false, m.msg)
			if err != nil {
				if !transient(err) { // the message itself cannot be encoded
					return err
				}
				break
			}
		}
		if err == nil {
			return nil
		}
		p.drop(err.Error())
	}
}

// drop closes the session after a failure; every message it did not confirm is published
// again on the next one.
func (p *Publisher) drop(reason string) {
	p.sess.close()
	p.sess = nil
	n := 0
	for _, m := range p.inflight {
		if m.dc != nil && !m.dc.Acked() {
			m.dc = nil
			n++
		}
	}
	p.logger.Info("amqp: connection lost, reconnecting", "connection", p.name, "reason", reason, "unconfirmed", n)
}

// nacked reports whether the broker answered dc with a nack (or the channel closed under it).
func nacked(dc *amqp.DeferredConfirmation) bool {
	select {
	case <-dc.Done():
		return !dc.Acked()
	default:
		return false
	}
}
