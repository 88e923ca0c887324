// Package rabbittest starts throw-away RabbitMQ nodes (rabbitmq-server with the management
// plugin) for tests, as internal/testserver/pgtest does PostgreSQL: each node has its own
// name, Erlang cookie, config, data and log directory in a temporary directory, and random
// AMQP, management and distribution ports on 127.0.0.1, runs as the rabbitmq user when the
// test runs as root, and is stopped when the test ends. The machine's own broker, if any, is
// left alone.
//
//	rs := rabbittest.New(t)
//	conn, err := amqp091.Dial(rs.AMQPURL(rs.AdminUser, rs.AdminPassword))
//
// A node takes several seconds to start: share one per package where tests allow it.
package rabbittest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotasafe/rotasafe/internal/rabbitapi"
	"github.com/rotasafe/rotasafe/internal/testserver"
)

// ErrNotInstalled says that rabbitmq-server was not found, and how to install it.
var ErrNotInstalled = testserver.NotInstalled("rabbittest: rabbitmq-server not found; install it (Debian: apt-get install rabbitmq-server)")

// Server is a running throw-away node.
type Server struct {
	Host          string // 127.0.0.1
	AMQPPort      int
	MgmtURL       string // the management API's base URL, http://127.0.0.1:<port>
	AdminUser     string // an administrator (tag administrator, all permissions on "/")
	AdminPassword string

	dir     string
	logPath string
	proc    *testserver.Process
	dog     *testserver.Watchdog // removes dir if the test binary dies without Close
}

// startTimeout bounds how long a node may take to answer its management API: only a hang
// reaches it (a node starts in 6 to 10 seconds on an idle machine).
const startTimeout = 3 * time.Minute

// New starts a node for a test and stops it when the test ends. Without rabbitmq-server it
// skips the test with a message that says what to install, or fails it when
// ROTASAFE_REQUIRE_INTEGRATION=1. Any other error fails the test.
func New(tb testing.TB) *Server {
	tb.Helper()
	return testserver.New(tb, Start)
}

// Start starts a node and returns once its management API answers; the caller must Close
// it. An error matching ErrNotInstalled means rabbitmq-server is not installed.
func Start(ctx context.Context) (*Server, error) {
	script := findServer()
	if script == "" {
		return nil, ErrNotInstalled
	}
	run, err := testserver.RunAs("rabbitmq")
	if err != nil {
		return nil, err
	}
	var s *Server
	_, err = testserver.OnFreePort(func(port int) error {
		var err error
		s, err = start(ctx, script, run, port)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	return s, nil
}

// findServer returns the upstream rabbitmq-server script (Debian's /usr/sbin/rabbitmq-server
// wrapper insists on the machine's own node, user and directories), or "".
func findServer() string {
	matches, _ := filepath.Glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server")
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return testserver.FindBinary(nil, "rabbitmq-server")
}

// start starts a node with its AMQP listener on port; the error matches
// testserver.ErrPortTaken when one of its ports was taken meanwhile.
func start(ctx context.Context, script string, run *testserver.Account, port int) (_ *Server, err error) {
	mgmtPort, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	distPort, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := testserver.TempDir("rabbittest-", run != nil)
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", AMQPPort: port, MgmtURL: "http://127.0.0.1:" + strconv.Itoa(mgmtPort),
		AdminUser: "admin", AdminPassword: rand.Text(), dir: dir, logPath: filepath.Join(dir, "log", "node.log")}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dog, err = testserver.Watch("rm", "-rf", dir); err != nil {
		return nil, err
	}
	node := fmt.Sprintf("rabbittest%d@localhost", port)
	files := map[string]string{
		// The node's own cookie, read-only as Erlang wants it: HOME is the directory.
		".erlang.cookie":  rand.Text(),
		"enabled_plugins": "[rabbitmq_management].\n",
		"rabbitmq.conf": strings.Join([]string{
			"listeners.tcp.default = 127.0.0.1:" + strconv.Itoa(port),
			"management.tcp.ip = 127.0.0.1",
			"management.tcp.port = " + strconv.Itoa(mgmtPort),
			"default_user = " + s.AdminUser,
			"default_pass = " + s.AdminPassword,
			"default_user_tags.administrator = true",
			"default_permissions.configure = .*",
			"default_permissions.read = .*",
			"default_permissions.write = .*",
			"loopback_users = none",
			"log.file = node.log",
			"log.file.level = debug", // a check that no password reaches the log sees everything
			"log.console = false",
			"",
		}, "\n"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o400); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"log", "mnesia"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if run != nil {
		if err := run.Chown(dir); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(script)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"LANG=C.UTF-8",
		"RABBITMQ_NODENAME=" + node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(distPort),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"), // none: not the machine's
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "node.pid"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	}
	out := &testserver.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if run != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: run.Credential()}
	}
	if s.proc, err = testserver.StartProcess(cmd, ""); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	ready := func(ctx context.Context) error { return s.serves(ctx) }
	if err := testserver.WaitReady(ctx, s.proc, ready); err != nil {
		// A listener that lost its port to another process shows as eaddrinuse in the node's
		// log, not on its console: OnFreePort tries other ports then.
		nodeLog, _ := os.ReadFile(s.logPath)
		return nil, testserver.MarkPortTaken(fmt.Errorf("rabbitmq-server: %w: %s", err, testserver.Tail(out.Bytes())), out.String()+string(nodeLog))
	}
	return s, nil
}

// serves reports whether the node is ready for a test: its management API answers and lists
// the AMQP listener on AMQPPort, which then accepts a connection. The management API can
// answer before the node opens its AMQP listener (a kit test's first login met a refused
// connection once), and a listener that lost its port is not listed.
func (s *Server) serves(ctx context.Context) error {
	var overview struct {
		Listeners []listener `json:"listeners"`
	}
	if err := s.Do(ctx, http.MethodGet, "/api/overview", nil, &overview); err != nil {
		return err
	}
	if !slices.Contains(overview.Listeners, listener{Protocol: "amqp", Port: s.AMQPPort}) {
		return fmt.Errorf("the management API lists no AMQP listener on port %d yet", s.AMQPPort)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.AMQPPort)))
	if err != nil {
		return err
	}
	return c.Close()
}

// listener is one listener of the management API's overview.
type listener struct {
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
}

// Close kills the node's process group and removes its directory.
func (s *Server) Close() error {
	if s.proc != nil {
		s.proc.Kill() // beam's helpers (erl_child_setup, inet_gethost) leave with the group
	}
	if s.dog != nil {
		return s.dog.Release() // removes dir
	}
	return os.RemoveAll(s.dir)
}

// AMQPURL is the amqp:// URL that logs in as user with password on the node's "/" vhost.
func (s *Server) AMQPURL(user, password string) string {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(user, password), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.AMQPPort)), Path: "/"}
	return u.String()
}

// ReadLog returns the node's log (at debug level).
func (s *Server) ReadLog() (string, error) {
	b, err := os.ReadFile(s.logPath)
	return string(b), err
}

// Do calls the management API as the admin: method on path (under MgmtURL), with in as the
// JSON body when not nil, decoding the JSON answer into out when not nil. A status other than
// 2xx is an error that names it.
func (s *Server) Do(ctx context.Context, method, path string, in, out any) error {
	c := rabbitapi.Client{Base: s.MgmtURL, User: s.AdminUser, Password: s.AdminPassword}
	return c.Do(ctx, method, path, in, out)
}

// CreateUser makes user an application user with password on the "/" vhost: tags
// "monitoring", configure/write/read permissions on names starting with "app.", and topic
// permissions on amq.topic, so that a rotation has tags and permissions to copy.
func (s *Server) CreateUser(ctx context.Context, user, password string) error {
	if err := s.Do(ctx, http.MethodPut, "/api/users/"+url.PathEscape(user), map[string]string{"password": password, "tags": "monitoring"}, nil); err != nil {
		return err
	}
	perm := map[string]string{"configure": "^app\\.", "write": "^app\\.", "read": "^app\\."}
	if err := s.Do(ctx, http.MethodPut, "/api/permissions/%2F/"+url.PathEscape(user), perm, nil); err != nil {
		return err
	}
	topic := map[string]string{"exchange": "amq.topic", "write": "^app\\.", "read": ".*"}
	return s.Do(ctx, http.MethodPut, "/api/topic-permissions/%2F/"+url.PathEscape(user), topic, nil)
}
