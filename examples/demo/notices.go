package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe/notice"
	"github.com/rotasafe/rotasafe/notice/redisnotice"
)

// noticesRedis is the -notices value that sends rotation notices through a throw-away
// redis-server: the rotator announces each step, the application's cache listens.
const noticesRedis = "redis"

// noticeLead is the rotator's lead with -notices (rotate.WithNoticeLead).
const noticeLead = 200 * time.Millisecond

// noticeServer is a throw-away redis-server on a random 127.0.0.1 port, and a client of it.
type noticeServer struct {
	cmd    *exec.Cmd
	done   chan struct{}
	client *redis.Client
}

// startNotices starts redis-server and returns the transport the rotator publishes on and
// the application's cache subscribes to (one client serves both in this one process).
func startNotices(ctx context.Context) (*noticeServer, notice.Transport, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, errors.New("-notices redis needs redis-server (Debian: apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &noticeServer{done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	s.client = redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), DisableIdentity: true})
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := s.client.Ping(ctx).Err()
		if err == nil {
			break
		}
		select {
		case <-s.done:
			s.close()
			return nil, nil, errors.New("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, nil, fmt.Errorf("redis-server did not answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, redisnotice.New(s.client), nil
}

// close stops redis-server.
func (s *noticeServer) close() {
	if s == nil {
		return
	}
	s.client.Close()
	s.cmd.Process.Kill()
	<-s.done
}
