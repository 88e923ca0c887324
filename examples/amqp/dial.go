package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/login"
)

// dialTimeout bounds the TCP connect and the AMQP handshake of one login attempt when the
// context allows longer. A refused login takes the broker about 3 s to answer.
const dialTimeout = 15 * time.Second

// dialer opens AMQP connections with the credentials of a rotating secret. Every connection
// logs in through one login.Walker shared by the process: it picks the secret's version,
// walks the staging labels when the broker refuses one, and retries transient failures.
type dialer struct {
	walker *login.Walker
	tls    *tls.Config // for secrets with "tls": true; nil means the system's roots
	logger *slog.Logger
}

// session is one logged-in connection and the channel its client works on.
type session struct {
	conn   *amqp.Connection
	ch     *amqp.Channel
	closed chan *amqp.Error // the connection's close reason (NotifyClose)
	user   string           // the user it logged in as, for log lines
}

// close closes the connection; an error only says it was closed already.
func (s *session) close() { _ = s.conn.Close() }

// reason says why the connection closed, once it has.
func (s *session) reason() string {
	select {
	case e, ok := <-s.closed:
		if ok && e != nil {
			return e.Error()
		}
	default:
	}
	if s.conn.IsClosed() {
		return "connection closed"
	}
	return "channel closed"
}

// open logs in, names the connection name (the connection_name the broker's management UI
// and API show), opens a channel and runs setup on it (declarations, confirm mode, consume).
// Only the walker's give-up (a *rotasafe.ConnectError) or the end of ctx fail it.
func (d *dialer) open(ctx context.Context, name string, setup func(*amqp.Channel) error) (*session, error) {
	var s *session
	_, err := d.walker.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
		b, err := parseBroker(v)
		if err != nil {
			return login.Unusable(err)
		}
		props := amqp.NewConnectionProperties()
		props.SetClientConnectionName(name)
		conn, err := amqp.DialConfig(b.url(), amqp.Config{
			// Credentials go in SASL, not in the URL, so that no string ever holds them.
			SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: b.user, Password: b.password}},
			Vhost:           b.vhost,
			TLSClientConfig: d.tlsConfig(b),
			Dial:            dialContext(ctx),
			Properties:      props,
		})
		if err != nil {
			return classifyLogin(fmt.Errorf("log in to %s as %s: %w", b.addr(), b.user, err))
		}
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		ch, err := conn.Channel()
		if err == nil {
			err = setup(ch)
		}
		if err != nil {
			_ = conn.Close()
			return classifySetup(fmt.Errorf("set up the channel as %s: %w", b.user, err))
		}
		s = &session{conn: conn, ch: ch, closed: closed, user: b.user}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.logger.Info("amqp: connected", "connection", name, "user", s.user)
	return s, nil
}

func (d *dialer) tlsConfig(b broker) *tls.Config {
	if !b.tls {
		return nil
	}
	if d.tls != nil {
		return d.tls.Clone()
	}
	return &tls.Config{ServerName: b.host}
}

// dialContext connects as amqp091's DefaultDial does, bounded by ctx: the deadline it sets
// covers the TLS and AMQP handshakes, and amqp091 clears it once the connection is open.
func dialContext(ctx context.Context) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		deadline := time.Now().Add(dialTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		c, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(deadline); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// classifyLogin marks a failed AMQP login for the walker. amqp091 reports any failure while
// the broker checks the credentials as ErrCredentials (403 ACCESS_REFUSED), a deadline
// included: RabbitMQ closes the socket, about 3 s later, instead of answering. ErrVhost and
// ErrSASL, 403s too, are configuration errors that no other version fixes: they give up.
func classifyLogin(err error) error {
	var ae *amqp.Error
	switch {
	case errors.Is(err, amqp.ErrVhost), errors.Is(err, amqp.ErrSASL):
		return err
	case errors.As(err, &ae) && ae.Code == amqp.AccessRefused:
		return login.Rejected(err)
	case transient(err):
		return login.Transient(err)
	}
	return err
}

// classifySetup marks a failure after the login: the connection going away is transient;
// anything else (no permission on the exchange, a queue declared with other arguments) is
// a bug no retry fixes.
func classifySetup(err error) error {
	if transient(err) {
		return login.Transient(err)
	}
	return err
}

// transient reports failures that pass by themselves: the broker is restarting or closed
// the connection (320 CONNECTION_FORCED), the connection is gone (amqp091's ErrClosed),
// or the TCP connection was refused, reset or timed out. amqp091's Error.Recover is no
// guide: it is true of every channel-level error, 403 on a declaration included.
func transient(err error) bool {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae.Code == amqp.ConnectionForced || ae == amqp.ErrClosed
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne) && ne.Timeout()
}

// broker is where a secret version logs in. It is never printed: password is a secret.
type broker struct {
	host     string
	port     int
	vhost    string
	tls      bool
	user     string
	password string
}

// parseBroker reads a version as the RabbitMQ secret rotate/rabbitmq rotates: the database
// JSON (host, port, username, password) plus optional "vhost" ("/") and "tls" (false).
// Its errors name fields, never values.
func parseBroker(v rotasafe.Version) (broker, error) {
	s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return broker{}, fmt.Errorf("version %s: %w", v.ID, err)
	}
	var extra struct {
		VHost string `json:"vhost"`
		TLS   bool   `json:"tls"`
	}
	if err := json.Unmarshal([]byte(v.SecretString), &extra); err != nil {
		var te *json.UnmarshalTypeError // names the field and the JSON type only
		if errors.As(err, &te) {
			return broker{}, fmt.Errorf("version %s: field %s is not a %s", v.ID, te.Field, te.Type)
		}
		return broker{}, fmt.Errorf("version %s: not JSON", v.ID)
	}
	b := broker{host: s.Host, port: s.Port, vhost: extra.VHost, tls: extra.TLS, user: s.Username, password: s.Password}
	if b.vhost == "" {
		b.vhost = "/"
	}
	if b.port == 0 {
		b.port = 5672
		if b.tls {
			b.port = 5671
		}
	}
	return b, nil
}

func (b broker) addr() string { return net.JoinHostPort(b.host, strconv.Itoa(b.port)) }

// url is the broker's address without credentials (they travel in amqp.Config.SASL).
func (b broker) url() string {
	u := url.URL{Scheme: "amqp", Host: b.addr(), Path: "/"}
	if b.tls {
		u.Scheme = "amqps"
	}
	return u.String()
}
