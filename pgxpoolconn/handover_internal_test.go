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
