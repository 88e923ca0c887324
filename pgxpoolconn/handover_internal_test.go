package pgxpoolconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestReplayConn: the startup message is swallowed however it is split across writes, the
// login's answer comes first, and everything after passes through.
func TestReplayConn(t *testing.T) {
	t.Parallel()
	startup, err := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "app", "database": "db"}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	query, _ := (&pgproto3.Query{String: "SELECT 1"}).Encode(nil)
	for _, split := range []int{1, 3, 4, 8, len(startup) - 1, len(startup), len(startup) + 2} {
		client, server := net.Pipe()
		rc := &replayConn{Conn: client, answer: []byte("ANSWER")}
		stream := append(append([]byte(nil), startup...), query...)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(server)
			got <- b
		}()
		for _, part := range [][]byte{stream[:split], stream[split:]} {
			if n, err := rc.Write(part); err != nil || n != len(part) {
				t.Fatalf("split %d: Write = %d, %v; want %d, nil", split, n, err, len(part))
			}
		}
		a := make([]byte, 3)
		var read []byte
		for len(read) < len("ANSWER") {
			n, err := rc.Read(a)
			if err != nil {
				t.Fatal(err)
			}
			read = append(read, a[:n]...)
		}
		rc.Close()
		if string(read) != "ANSWER" {
			t.Errorf("split %d: read %q, want the login's answer", split, read)
		}
		if b := <-got; !bytes.Equal(b, query) {
			t.Errorf("split %d: the server got %q, want only the query", split, b)
		}
	}
}

func TestReplayConnRefusesOtherFirstMessage(t *testing.T) {
	t.Parallel()
	var sslRequest [8]byte
	binary.BigEndian.PutUint32(sslRequest[0:4], 8)
	binary.BigEndian.PutUint32(sslRequest[4:8], 80877103)
	client, server := net.Pipe()
	defer server.Close()
	rc := &replayConn{Conn: client}
	if _, err := rc.Write(sslRequest[:]); !errors.Is(err, errStartup) {
		t.Errorf("Write(SSLRequest) = %v, want errStartup", err)
	}
}

// TestDialCancelTLS: a cancel connection of a TLS session asks for TLS first, and gives up
// when the server refuses it rather than sending the cancel key in the clear.
func TestDialCancelTLS(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	h := &handover{
		taken:     true, // the pool's connect has the session: dialContext dials for a cancel request
		dial:      func(context.Context, string, string) (net.Conn, error) { return client, nil },
		tlsConfig: testTLSConfig(),
	}
	go func() {
		req := make([]byte, 8)
		io.ReadFull(server, req)
		if binary.BigEndian.Uint32(req[4:8]) == 80877103 {
			server.Write([]byte("N"))
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if conn, err := h.dialContext(ctx, "tcp", "db:5432"); err == nil {
		conn.Close()
		t.Fatal("dialContext succeeded although the server refused TLS")
	}
}

func testTLSConfig() *tls.Config { return &tls.Config{ServerName: "db", MinVersion: tls.VersionTLS12} }

// chunkReader returns b at most n bytes a read, then err.
type chunkReader struct {
	b   []byte
	n   int
	err error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// TestAnswerReader: however the server's bytes are split across reads, the login's pgconn
// reads them up to AuthenticationOk and then a bare ReadyForQuery, and the rest of the answer
// is held for the pool; an answer with anything else in it, or cut short, reaches pgconn as
// it came. What follows a held answer in a later read is read after it.
func TestAnswerReader(t *testing.T) {
	t.Parallel()
	enc := func(msgs ...pgproto3.BackendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			var err error
			if b, err = m.Encode(b); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	auth := enc(&pgproto3.AuthenticationSASLFinal{Data: []byte("v=signature")}, &pgproto3.AuthenticationOk{})
	answer := enc(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.8"},
		&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"},
		&pgproto3.BackendKeyData{ProcessID: 42, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	notice := enc(&pgproto3.NoticeResponse{Message: "hello"})
	inTx := enc(&pgproto3.ReadyForQuery{TxStatus: 'T'})
	boom := errors.New("boom")
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name   string
		stream []byte
		err    error // after the stream
		held   bool  // when the answer ends a read; always, unless later says otherwise
		later  bool  // held only when the answer ends a read: more follows it
	}{
		{"answer held", cat(auth, answer), io.EOF, true, false},
		{"a notice in it", cat(auth, notice, answer), io.EOF, false, false},
		{"not idle", cat(auth, answer[:len(answer)-6], inTx), io.EOF, false, false},
		{"more after it", cat(auth, answer, notice), io.EOF, true, true},
		{"cut short", cat(auth, answer[:len(answer)-3]), boom, false, false},
		{"no AuthenticationOk", enc(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}), io.EOF, false, false},
	}
	for _, tt := range tests {
		for n := 1; n <= len(tt.stream); n++ {
			a := &answerReader{r: &chunkReader{b: tt.stream, n: n, err: tt.err}, scan: true}
			got, err := io.ReadAll(struct{ io.Reader }{a})
			if tt.err != io.EOF && !errors.Is(err, tt.err) || tt.err == io.EOF && err != nil {
				t.Errorf("%s, reads of %d: error %v, want %v", tt.name, n, err, tt.err)
			}
			want, held := tt.stream, []byte(nil)
			if end := len(auth) + len(answer); tt.held && (!tt.later || end%n == 0) {
				want = cat(auth, readyIdle[:], tt.stream[end:])
				held = cat(authOK[:], answer)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s, reads of %d: pgconn read %q, want %q", tt.name, n, got, want)
			}
			if !bytes.Equal(a.held, held) {
				t.Errorf("%s, reads of %d: held %q, want %q", tt.name, n, a.held, held)
			}
		}
	}
}

// TestSelfLookup: each host is its own answer, and asking again about the same host makes
// no new slice.
func TestSelfLookup(t *testing.T) { // not parallel: AllocsPerRun
	var s selfLookup
	for _, host := range []string{"db.example", "db.example", "10.0.0.1", "db.example"} {
		got, err := s.lookup(t.Context(), host)
		if err != nil || len(got) != 1 || got[0] != host {
			t.Fatalf("lookup(%q) = %q, %v; want [%q]", host, got, err, host)
		}
	}
	if n := testing.AllocsPerRun(10, func() { s.lookup(context.Background(), "db.example") }); n != 0 {
		t.Errorf("lookup of the last host: %v allocations, want 0", n)
	}
}
