package sqlconn

import (
	"context"
	"database/sql/driver"
	"net"
	"time"
)

// go-sql-driver/mysql watches a context that can end from a goroutine of each connection,
// and hands the context to it and back around every login: two goroutine hand-offs, which
// cost about 9 % of a login on loopback (measured: 326 against 298 µs a connect, with and
// without a deadline on the context). Every login through the credential walk has one, the
// attempt's time limit, so the connector carries the context's end out itself instead: the
// driver gets a context that cannot end, and the socket the driver dials gets the context's
// deadline, and a deadline in the past when the context is cancelled. Once the handshake is
// over the socket's deadline is cleared, so the connection lives on as the driver's own.

// handshake is what mysqlConnector.login hands its dial function through the context it
// gives the driver: the caller's context, and the socket once dialled.
type handshake struct {
	ctx  context.Context
	conn net.Conn    // the dialled socket; nil until dial succeeds
	stop func() bool // stops the context.AfterFunc that ends the socket at ctx's end
}

type handshakeKey struct{}

// past is a deadline that has passed: set on a socket, it fails the socket's pending and
// future reads and writes at once.
var past = time.Unix(1, 0)

// dialHandshake is the driver's DialFunc for connectors that carry the context's end on the
// socket (see handshake). Without a handshake in ctx it dials as the driver would.
func dialHandshake(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	h, _ := ctx.Value(handshakeKey{}).(*handshake)
	if h == nil {
		return d.DialContext(ctx, network, addr)
	}
	// ctx ends only at the driver's dial timeout (Config.Timeout), if set; the caller's
	// context ends the dial too.
	if t, ok := ctx.Deadline(); ok {
		d.Deadline = t
	}
	conn, err := d.DialContext(h.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if t, ok := h.ctx.Deadline(); ok {
		conn.SetDeadline(t)
	}
	h.conn = conn
	h.stop = context.AfterFunc(h.ctx, func() { conn.SetDeadline(past) })
	return conn, nil
}

// login connects through the driver within ctx. A context that can end is carried out on
// the socket (see handshake) when the driver leaves the socket's deadlines alone, which it
// does unless readTimeout or writeTimeout is set.
func (c *mysqlConnector) login(ctx context.Context) (driver.Conn, error) {
	if ctx.Done() == nil || !c.socketDeadline {
		return c.conn.Connect(ctx)
	}
	h := &handshake{ctx: ctx}
	conn, err := c.conn.Connect(context.WithValue(context.WithoutCancel(ctx), handshakeKey{}, h))
	if h.stop != nil && !h.stop() {
		// ctx ended after the dial: the socket's deadline is in the past, however the
		// handshake came out.
		if err == nil {
			conn.Close()
		}
		return nil, ended(ctx)
	}
	if err != nil {
		if t, ok := ctx.Deadline(); ok && !time.Now().Before(t) {
			return nil, ended(ctx) // the socket's deadline, at ctx's
		}
		return nil, err
	}
	if h.conn != nil {
		h.conn.SetDeadline(time.Time{})
	}
	return conn, nil
}

// ended is ctx's error once its deadline has passed, which may come a moment before ctx's
// own timer says so: the driver answers with what its context says, and this is that.
func ended(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return context.DeadlineExceeded
}
