package pgxpoolconn

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/pgclass"
)

// A pgx pool makes each new connection with exactly one pgx.ConnectConfig after
// BeforeConnect, and hands its failure straight to Acquire. So the login that the walk
// retries happens inside BeforeConnect, with pgconn, and its session is then handed over
// to the pool's own connect rather than closed and made again:
//
//  1. the walk logs in with pgconn.ConnectConfig (TLS, fallbacks, authentication and
//     ValidateConnect as the configuration says) and the session is taken with
//     PgConn.Hijack. The login's pgconn reads the server through an answerReader, which
//     holds back what follows AuthenticationOk (the ParameterStatus values, BackendKeyData
//     and ReadyForQuery) and gives pgconn a bare ReadyForQuery instead, so that those
//     messages are decoded once, by the pool's connect, not twice. Anything else after
//     AuthenticationOk, or a ValidateConnect or AfterNetConnect in the configuration, lets
//     them through to the login as they came;
//  2. install points the pool's copy of the configuration at a dial function that returns
//     that session, wrapped in a replayConn, and turns off what only applies to a login
//     (TLS negotiation, fallbacks, ValidateConnect, AfterNetConnect, the checks of
//     channel_binding, require_auth and sslcertmode, all of which the login passed);
//  3. the pool's pgx.ConnectConfig writes its startup message, which the replayConn
//     swallows, and reads the server's answer to the login (AuthenticationOk, the
//     ParameterStatus values, BackendKeyData, ReadyForQuery), which the replayConn replays:
//     the bytes held back, or else an encoding of what the login's pgconn decoded; from then
//     on it passes bytes through.
//
// So every new pool connection costs one login, as without pgxpoolconn, and no password
// change between a check and the real login can fail it. Later calls of the dial function
// (cancel requests) dial anew, over TLS when the session uses TLS.
//
// PgConn.Hijack and HijackedConn are outside pgx's semantic versioning promise; the
// PostgreSQL startup exchange the replay relies on is not. The tests pin the behaviour of
// the pgx version in go.mod: TLS, channel binding, cancel requests, slow writes.

// handover is one logged-in session waiting for the pool's connect.
type handover struct {
	mu    sync.Mutex // guards taken
	taken bool       // the pool's connect took the session
	conn  replayConn // the session, part of the handover to save an allocation per connection
	dial  pgconn.DialFunc
	build pgconn.BuildFrontendFunc // the configuration's, which buildFrontend calls
	hold  bool                     // the login's answerReaders hold the answer back

	// The login's network connections: wc is the last dialled (with fallbacks, the one that
	// logged in), first the first one, part of the handover to save an allocation.
	wc    *watchConn
	first watchConn

	// For cancel requests: how the session's TLS was set up (tlsConfig nil: no TLS).
	tlsConfig *tls.Config
	certMode  string
	direct    bool

	// The login's configuration (see Credentials.loginConfig), part of the handover to save
	// an allocation; install sets the pool's from it. It holds the password: see Format.
	lc pgx.ConnConfig
}

// Format prints a handover without its fields, so that no fmt verb prints the password of
// its login configuration.
func (h *handover) Format(f fmt.State, _ rune) { io.WriteString(f, "pgxpoolconn.handover") }

// errNotIdle reports a session that is not ready for the pool after its login; the walk
// logs in again.
var errNotIdle = errors.New("pgxpoolconn: the server sent more than its answer to the login; logging in again")

// login logs in with h.lc and takes the session for the pool's connect. The class and error
// are the walk's.
func (h *handover) login(ctx context.Context) (rotasafe.Class, error) {
	lc := &h.lc
	h.dial, h.build = lc.DialFunc, lc.BuildFrontend
	lc.DialFunc = h.loginDial
	// A ValidateConnect may read the ParameterStatus values (target_session_attrs does), and
	// after an AfterNetConnect buildFrontend may not find the watchConn: then the login's
	// pgconn reads the whole answer.
	if lc.ValidateConnect == nil && lc.AfterNetConnect == nil {
		h.hold = true
		lc.BuildFrontend = buildFrontend
	}
	pc, err := pgconn.ConnectConfig(ctx, &lc.Config)
	if err != nil {
		return pgclass.Classify(err), err
	}
	if err := h.takeOver(ctx, pc); err != nil {
		return rotasafe.ClassTransient, err
	}
	return rotasafe.ClassOther, nil
}

// loginDial is the DialFunc of the login: it dials as the configuration does and keeps the
// connection for quiesce. pgconn dials one fallback after another, never at once.
func (h *handover) loginDial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := h.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if h.wc == nil {
		h.wc = &h.first
	} else {
		h.wc = new(watchConn) // the earlier one may still be closing
	}
	h.wc.Conn, h.wc.h = conn, h
	return h.wc, nil
}

// buildFrontend is the BuildFrontendFunc of a login whose answer is held back: the
// configuration's, reading from the watchConn's answerReader. It is a function rather than
// a method value of the handover, which would cost an allocation per login: w is the
// connection pgconn writes to, the watchConn or TLS over it.
func buildFrontend(r io.Reader, w io.Writer) *pgproto3.Frontend {
	under := w
	if tc, ok := w.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	wc, ok := under.(*watchConn)
	if !ok { // cannot happen: see handover.login
		return pgproto3.NewFrontend(r, w)
	}
	wc.ans = answerReader{r: r, scan: true}
	return wc.h.build(&wc.ans, w)
}

// takeOver takes the session pc, which logged in with h.lc over h.wc, for the pool's connect.
func (h *handover) takeOver(ctx context.Context, pc *pgconn.PgConn) error {
	if err := quiesce(ctx, pc, h.wc); err != nil {
		pc.Close(ctx)
		return err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return err
	}
	if hc.TxStatus != 'I' {
		hc.Conn.Close()
		return errNotIdle
	}
	if a := &h.wc.ans; a.held != nil && len(a.out) == 0 {
		// The answer was held back: replay it as it came.
		h.conn = replayConn{Conn: hc.Conn, answer: a.held}
		a.held = nil
	} else {
		answer, err := loginAnswer(hc)
		if err != nil {
			hc.Conn.Close()
			return err
		}
		h.conn = replayConn{Conn: hc.Conn, answer: answer}
	}
	h.tlsConfig, h.certMode, h.direct = hc.TLSConfig, h.lc.SSLCertMode, h.lc.SSLNegotiation == "direct"
	return nil
}

// loginAnswer encodes what the server answered the login, as the pool's connect expects to
// read it, into one buffer of the right size.
func loginAnswer(hc *pgconn.HijackedConn) ([]byte, error) {
	n := 9 + 9 + len(hc.SecretKey) + 6 // AuthenticationOk, BackendKeyData, ReadyForQuery
	for name, value := range hc.ParameterStatuses {
		n += 5 + len(name) + 1 + len(value) + 1
	}
	buf, err := (&pgproto3.AuthenticationOk{}).Encode(make([]byte, 0, n))
	if err != nil {
		return nil, err
	}
	for name, value := range hc.ParameterStatuses {
		if buf, err = (&pgproto3.ParameterStatus{Name: name, Value: value}).Encode(buf); err != nil {
			return nil, err
		}
	}
	if buf, err = (&pgproto3.BackendKeyData{ProcessID: hc.PID, SecretKey: hc.SecretKey}).Encode(buf); err != nil {
		return nil, err
	}
	return (&pgproto3.ReadyForQuery{TxStatus: hc.TxStatus}).Encode(buf)
}

// install sets the pool's copy of the configuration, cc, to take over the session.
// lookup is the LookupFunc it sets (see Credentials.lookupSelf).
func (h *handover) install(cc *pgx.ConnConfig, lookup pgconn.LookupFunc) {
	// The host the session went to: a fallback of the same host differs only in TLS.
	lc := &h.lc
	cc.Host, cc.Port, cc.Database, cc.User, cc.Password = lc.Host, lc.Port, lc.Database, lc.User, lc.Password
	cc.TLSConfig, cc.Fallbacks = nil, nil
	cc.DialFunc = h.dialContext
	cc.LookupFunc = lookup
	cc.AfterNetConnect, cc.ValidateConnect = nil, nil
	if cc.ChannelBinding == "require" {
		cc.ChannelBinding = "prefer"
	}
	if cc.SSLCertMode == "require" {
		cc.SSLCertMode = "allow"
	}
	cc.RequireAuth = ""
}

// selfLookup answers the lookups of the pool's connections: the dial goes to the session,
// so the host needs no lookup and is its own answer. The answer for the last host asked
// about is kept, so that a pool's connections, which go to one host, share one slice rather
// than make one each; pgconn only reads it.
type selfLookup struct {
	last atomic.Pointer[[]string] // the answer for (*last)[0]
}

func (s *selfLookup) lookup(_ context.Context, host string) ([]string, error) {
	if p := s.last.Load(); p != nil && (*p)[0] == host {
		return *p, nil
	}
	answer := []string{host}
	s.last.Store(&answer)
	return answer, nil
}

// dialContext is the DialFunc of the pool's connection: the session first, then new
// connections for cancel requests.
func (h *handover) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	h.mu.Lock()
	taken := h.taken
	h.taken = true
	h.mu.Unlock()
	if !taken {
		return &h.conn, nil
	}
	return h.dialCancel(ctx, network, addr)
}

// dialCancel dials the server for a cancel request, negotiating TLS as the session did, so
// that the cancel key does not cross the network in the clear when the session did not.
func (h *handover) dialCancel(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := h.dial(ctx, network, addr)
	if err != nil || h.tlsConfig == nil {
		return conn, err
	}
	cfg := h.tlsConfig
	if h.certMode == "disable" {
		cfg = cfg.Clone()
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return new(tls.Certificate), nil }
	}
	if !h.direct {
		if err := requestTLS(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return tls.Client(conn, cfg), nil
}

// requestTLS sends PostgreSQL's SSLRequest and reads the answer.
func requestTLS(ctx context.Context, conn net.Conn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			conn.SetDeadline(time.Time{})
		}
	}()
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], 80877103)
	if _, err := conn.Write(req[:]); err != nil {
		return err
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		return err
	}
	if answer[0] != 'S' {
		return errors.New("pgxpoolconn: the server refused TLS for a cancel request")
	}
	return nil
}

// doneCtx is a context that has ended: pgconn calls with it return at once, with no I/O.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// quiesce waits until the login's pgconn reads no more from the connection. A write that
// took long (a busy machine) leaves pgconn reading in the background after the login, and
// that read would take the server's answer to the pool's first query; a read deadline in
// the past ends it at once. Data that arrives meanwhile came unasked after the login's
// answer: the session is not handed over (errNotIdle).
func quiesce(ctx context.Context, pc *pgconn.PgConn, wc *watchConn) error {
	// idle reports that nothing reads in the background and nothing is buffered. SyncConn
	// with a context that has ended does no I/O: it returns nil in exactly that case.
	idle := func() (bool, error) {
		if pc.Frontend().ReadBufferLen() != 0 || wc.late.Load() {
			return false, errNotIdle
		}
		return pc.SyncConn(doneCtx) == nil, nil
	}
	if ok, err := idle(); ok || err != nil { // the usual case: no background read
		return err
	}
	wc.watch.Store(true)
	defer wc.watch.Store(false)
	if err := wc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return err
	}
	for {
		ok, err := idle()
		if err != nil {
			return err
		}
		if ok {
			return wc.SetReadDeadline(time.Time{})
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(50 * time.Microsecond) // the background read ends as soon as it runs
	}
}

// watchConn is the network connection of a login, under TLS when there is TLS. While
// quiesce watches, it notes data read from the server.
type watchConn struct {
	net.Conn
	watch atomic.Bool // quiesce is waiting for the login's background read to end
	late  atomic.Bool // a read returned data while quiesce watched

	h   *handover
	ans answerReader // what pgconn reads from, when the handover holds the answer back
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.watch.Load() {
		c.late.Store(true)
	}
	return n, err
}

// answerReader is what the login's pgconn reads the server's messages from (the plain text,
// above TLS): it follows them until AuthenticationOk and holds back what comes after it
// (see hold).
type answerReader struct {
	r io.Reader

	scan bool    // looking for the end of AuthenticationOk in what is read
	hdr  [9]byte // the start of the message being read: type, length and, for 'R', the code
	hn   int     // bytes of hdr read
	skip int     // bytes of the message being read still to pass
	held []byte  // the answer held back for the pool, AuthenticationOk first; nil: none
	out  []byte  // bytes for pgconn before reading again
	err  error   // the error of a read, to return once out is read
}

// authOK is an AuthenticationOk message.
var authOK = [...]byte{'R', 0, 0, 0, 8, 0, 0, 0, 0}

// readyIdle is a ReadyForQuery message for an idle session: what the login's pgconn reads
// after AuthenticationOk when the answer is held back.
var readyIdle = [...]byte{'Z', 0, 0, 0, 5, 'I'}

// maxHeld bounds the answer held back: PostgreSQL's is a few hundred bytes.
const maxHeld = 64 << 10

func (a *answerReader) Read(p []byte) (int, error) {
	if len(a.out) > 0 {
		n := copy(p, a.out)
		a.out = a.out[n:]
		return n, nil
	}
	if err := a.err; err != nil {
		a.err = nil
		return 0, err
	}
	n, err := a.r.Read(p)
	if a.scan && n > 0 {
		if k := a.findOK(p[:n]); k >= 0 {
			a.hold(p[k:n], err)
			return k, nil // the rest, or the error, comes from out and err
		}
	}
	return n, err
}

// findOK follows the server's messages through b, the next bytes read, and returns the
// length of b up to the end of an AuthenticationOk message; -1 when b holds none.
func (a *answerReader) findOK(b []byte) int {
	for i := 0; i < len(b); {
		if a.skip > 0 {
			k := min(a.skip, len(b)-i)
			a.skip -= k
			i += k
			continue
		}
		a.hdr[a.hn] = b[i]
		a.hn++
		i++
		if a.hn < 5 {
			continue
		}
		length := int(binary.BigEndian.Uint32(a.hdr[1:5]))
		if a.hdr[0] == 'R' && length >= 8 && a.hn < len(a.hdr) {
			continue // the authentication code comes next
		}
		if length < 4 { // not PostgreSQL: stop looking, pgconn reports it
			a.scan = false
			return -1
		}
		a.skip, a.hn = 1+length-a.hn, 0
		if a.hdr[0] == 'R' && length == 8 && binary.BigEndian.Uint32(a.hdr[5:9]) == 0 {
			a.scan = false
			return i
		}
	}
	return -1
}

// hold reads the server's answer after AuthenticationOk, of which rest is the start and
// err the error of the read that returned it. When it holds only ParameterStatus,
// BackendKeyData and a ReadyForQuery for an idle session, it keeps it in a.held, after
// AuthenticationOk, and pgconn reads readyIdle next; otherwise pgconn reads it as it came,
// then err.
func (a *answerReader) hold(rest []byte, err error) {
	held := append(make([]byte, 0, len(authOK)+max(len(rest), 512)), authOK[:]...)
	held = append(held, rest...)
	for {
		done, ok := answered(held[len(authOK):])
		if done && ok {
			a.held, a.out = held, readyIdle[:]
			return
		}
		if done || err != nil || len(held) > maxHeld {
			a.out, a.err = held[len(authOK):], err
			return
		}
		held = slices.Grow(held, 512)
		var n int
		n, err = a.r.Read(held[len(held):cap(held)])
		held = held[:len(held)+n]
	}
}

// answered reports whether b, what the server sent after AuthenticationOk, ends with
// ReadyForQuery or holds a message other than ParameterStatus, BackendKeyData and
// ReadyForQuery (done), and whether it is a complete answer that the pool's connect may
// take over as it is (ok): those messages only, ReadyForQuery last and for an idle session.
func answered(b []byte) (done, ok bool) {
	for len(b) >= 5 {
		typ, length := b[0], int(binary.BigEndian.Uint32(b[1:5]))
		if typ != 'S' && typ != 'K' && typ != 'Z' || length < 4 {
			return true, false
		}
		if len(b) < 1+length {
			return false, false
		}
		if typ == 'Z' {
			return true, len(b) == 1+length && length == 5 && b[5] == 'I'
		}
		b = b[1+length:]
	}
	return false, false
}

// replayConn is a logged-in session handed to the pool's connect: it swallows the startup
// message that connect writes and replays the server's answer to the login, then passes
// bytes through. pgconn never reads from two goroutines at once, nor writes from two; the
// read side and the write side each have their own fields.
type replayConn struct {
	net.Conn

	answer []byte // read side: the login's answer still to be read

	head [8]byte // write side: the start of the startup message (length, protocol version)
	n    int     // write side: bytes of head received
	skip int     // write side: bytes of the startup message still to swallow after head
	done bool    // write side: the startup message was swallowed
}

// errStartup reports a first message that is not a startup message: the handover is
// configured wrong. It cannot happen with the configuration install leaves.
var errStartup = errors.New("pgxpoolconn: the pool's connect did not begin with a startup message")

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.answer) > 0 {
		n := copy(p, c.answer)
		c.answer = c.answer[n:]
		if len(c.answer) == 0 {
			c.answer = nil // not kept for the connection's life
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	swallowed := 0
	if c.n < len(c.head) {
		k := copy(c.head[c.n:], p)
		c.n += k
		p, swallowed = p[k:], k
		if c.n < len(c.head) {
			return swallowed, nil
		}
		length := int(binary.BigEndian.Uint32(c.head[0:4]))
		if binary.BigEndian.Uint32(c.head[4:8])>>16 != 3 || length < len(c.head) {
			return swallowed, errStartup
		}
		c.skip = length - len(c.head)
	}
	k := min(c.skip, len(p))
	c.skip -= k
	p, swallowed = p[k:], swallowed+k
	if c.skip > 0 {
		return swallowed, nil
	}
	c.done = true
	if len(p) == 0 {
		return swallowed, nil
	}
	n, err := c.Conn.Write(p)
	return swallowed + n, err
}
