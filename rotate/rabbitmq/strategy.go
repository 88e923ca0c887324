package rabbitmq

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/internal/option"
	"github.com/rotasafe/rotasafe/internal/rabbitapi"
	"github.com/rotasafe/rotasafe/rotate"
)

// Default ports: AMQP and the management API, plain and over TLS.
const (
	DefaultPort        = 5672
	DefaultTLSPort     = 5671
	DefaultMgmtPort    = 15672
	DefaultMgmtTLSPort = 15671
	DefaultTimeout     = 10 * time.Second
	DefaultCloneSuffix = "_clone"
)

// Option configures [Strategy]. An invalid value makes Strategy panic with a message that
// names the option and the value.
type Option func(*config)

type config struct {
	option.Conn // TLS of AMQP connections; Timeout of each API call and AMQP login
	http        *http.Client
	cloneSuffix string
}

// WithHTTPClient makes the strategy call the management API with c (its transport, TLS
// roots, proxy) instead of a client of its own. A nil c keeps the default.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.http = c
		}
	}
}

// WithTLSConfig sets the TLS configuration of AMQP connections to a secret with "tls": true
// (the system's roots by default). A nil c keeps the default.
func WithTLSConfig(c *tls.Config) Option { return func(cfg *config) { cfg.SetTLS(c) } }

// WithTimeout bounds each management API call and each AMQP login (DefaultTimeout). Zero
// keeps the default; a negative d is invalid.
func WithTimeout(d time.Duration) Option { return func(cfg *config) { cfg.SetTimeout("rabbitmq", d) } }

// WithCloneSuffix sets the suffix that names the second user (DefaultCloneSuffix). It must
// be 1 to 32 bytes.
func WithCloneSuffix(s string) Option {
	return func(cfg *config) {
		cfg.cloneSuffix = option.CloneSuffix("rabbitmq", "WithCloneSuffix", s)
	}
}

// Strategy rotates between a RabbitMQ user and its clone (the user's name with the suffix
// "_clone", WithCloneSuffix), as AWS's alternating-users templates do for databases
// (rotate.ScenarioAlternatingUsers): AWSCURRENT logs in throughout a rotation, and
// AWSPREVIOUS until the next one. The administrator whose secret the masterarn field names
// makes every change through the management API; it needs the administrator tag.
//
//   - Create copies AWSCURRENT with the other user's name and a new password (the handler's
//     password options).
//   - Set checks, as the administrator, that the AWSCURRENT user's stored hash is the
//     AWSCURRENT password's (so that a secret cannot be pointed at a user it does not own),
//     and that an existing pending user holds the AWSPENDING password (a rerun) or, as the
//     AWSPREVIOUS user, the AWSPREVIOUS one (the pair is this secret's, never an unrelated
//     user whose name differs by the suffix). It then creates the pending user when missing,
//     gives it exactly the AWSCURRENT user's tags, permissions and topic permissions, and sets
//     its password hash last, so that a rerun finds what is done and does the rest.
//   - Test logs in over AMQP with the pending credentials.
//
// The secret is the database secret JSON (rotasafe.DBSecret): host, port (5672, or 5671
// with "tls": true), username, password, masterarn, and optionally "vhost" (the virtual host
// Test logs in to, "/" by default) and "management_url" (the management API,
// http://host:15672, or https://host:15671 with "tls": true). The masterarn secret names the
// same management API, or the same host. Other fields are kept as they are. User limits
// (max-connections, max-channels) are not copied to the clone.
func Strategy(opts ...Option) rotate.Strategy {
	c := config{Conn: option.Conn{Timeout: DefaultTimeout}, cloneSuffix: DefaultCloneSuffix}
	option.Apply(&c, opts)
	if c.http == nil {
		c.http = &http.Client{Timeout: c.Timeout}
	}
	return &strategy{cfg: c}
}

type strategy struct {
	cfg config
}

// secret is a RabbitMQ secret: the database secret fields and the two of its own.
type secret struct {
	rotasafe.DBSecret
	vhost, mgmtURL string
	tls            bool
}

// parse reads a version as a RabbitMQ secret; the error names what and the version.
func parse(v rotasafe.Version, what string) (secret, error) {
	d, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
	if err != nil {
		return secret{}, fmt.Errorf("%s (version %s): %w", what, v.ID, err)
	}
	var extra struct {
		VHost   string `json:"vhost"`
		MgmtURL string `json:"management_url"`
		TLS     *bool  `json:"tls"`
		SSL     *bool  `json:"ssl"`
	}
	_ = json.Unmarshal([]byte(v.SecretString), &extra) // ParseDBSecret accepted it as JSON
	s := secret{DBSecret: d, vhost: extra.VHost, mgmtURL: strings.TrimRight(extra.MgmtURL, "/")}
	s.tls = extra.TLS != nil && *extra.TLS || extra.SSL != nil && *extra.SSL
	if s.vhost == "" {
		s.vhost = "/"
	}
	if s.Port == 0 {
		s.Port = DefaultPort
		if s.tls {
			s.Port = DefaultTLSPort
		}
	}
	if s.mgmtURL == "" {
		scheme, port := "http", DefaultMgmtPort
		if s.tls {
			scheme, port = "https", DefaultMgmtTLSPort
		}
		s.mgmtURL = scheme + "://" + net.JoinHostPort(s.Host, strconv.Itoa(port))
	}
	if s.Host == "" || s.Username == "" {
		return secret{}, fmt.Errorf("%s (version %s): host and username are required", what, v.ID)
	}
	return s, nil
}

// alternate returns the other user of the pair.
func (st *strategy) alternate(user string) string {
	if base, ok := strings.CutSuffix(user, st.cfg.cloneSuffix); ok && base != "" {
		return base
	}
	return user + st.cfg.cloneSuffix
}

// Create derives the pending secret: the other user, a new password.
func (st *strategy) Create(ctx context.Context, sc *rotate.StepContext) (string, error) {
	if _, err := parse(sc.Current, rotasafe.StageCurrent); err != nil {
		return "", err
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(sc.Current.SecretString), &fields); err != nil {
		return "", fmt.Errorf("%s (version %s): not a JSON object", rotasafe.StageCurrent, sc.Current.ID)
	}
	if m, _ := fields["masterarn"].(string); m == "" {
		return "", errNoMasterARN
	}
	pw, err := sc.NewPassword(ctx)
	if err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	fields["username"] = st.alternate(fields["username"].(string))
	fields["password"] = pw
	b, err := json.Marshal(fields)
	if err != nil {
		return "", errors.New("encode the pending secret")
	}
	return string(b), nil
}

var errNoMasterARN = errors.New(`AWSCURRENT: field "masterarn" is missing; it must name the secret of a RabbitMQ administrator`)

// errNotOwned is the cause when the pending user exists but holds no password the secret
// has held.
var errNotOwned = errors.New("it holds neither the AWSPENDING password nor, as the AWSPREVIOUS user, the AWSPREVIOUS one, so it is not this secret's")

// Set makes the pending user exist with the current user's tags and permissions and the
// pending password.
func (st *strategy) Set(ctx context.Context, sc *rotate.StepContext) error {
	cur, err := parse(sc.Current, rotasafe.StageCurrent)
	if err != nil {
		return err
	}
	pend, err := parse(sc.Pending, rotasafe.StagePending)
	if err != nil {
		return err
	}
	switch {
	case pend.mgmtURL != cur.mgmtURL || pend.Host != cur.Host || pend.Port != cur.Port:
		return fmt.Errorf("AWSPENDING names broker %s, AWSCURRENT %s; they must be the same", pend.mgmtURL, cur.mgmtURL)
	case pend.Username != st.alternate(cur.Username):
		return fmt.Errorf("AWSPENDING names user %s, which is not the alternate of the AWSCURRENT user %s", pend.Username, cur.Username)
	}
	admin, err := st.admin(ctx, sc, cur)
	if err != nil {
		return err
	}
	// The confused-deputy guard: only the owner of the current credentials may rotate.
	cu, ok, err := admin.getUser(ctx, cur.Username)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("the AWSCURRENT user %s does not exist", cur.Username)
	case !hashMatches(cu.PasswordHash, cu.HashingAlgorithm, cur.Password):
		return fmt.Errorf("the AWSCURRENT password is not user %s's; refusing to change the other user", cur.Username)
	}
	pu, exists, err := admin.getUser(ctx, pend.Username)
	if err != nil {
		return err
	}
	hash := PasswordHash(pend.Password)
	done := exists && hashMatches(pu.PasswordHash, pu.HashingAlgorithm, pend.Password)
	switch {
	case exists && !done:
		if err := st.checkPrevious(ctx, sc, pend, pu); err != nil {
			return fmt.Errorf("user %s exists: %w; refusing to take it over", pend.Username, err)
		}
	case !exists:
		// Created with the pending password's hash and the tags: a rerun finds it done.
		if err := admin.putUser(ctx, pend.Username, hash, cu.Tags); err != nil {
			return fmt.Errorf("create user %s: %w", pend.Username, err)
		}
		pu, done = user{Name: pend.Username, PasswordHash: hash, HashingAlgorithm: HashingAlgorithm, Tags: cu.Tags}, true
	}
	if err := admin.syncPermissions(ctx, cur.Username, pend.Username); err != nil {
		return fmt.Errorf("copy the permissions of %s to %s: %w", cur.Username, pend.Username, err)
	}
	switch {
	case !done: // the password last: until here the user keeps the AWSPREVIOUS one
		if err := admin.putUser(ctx, pend.Username, hash, cu.Tags); err != nil {
			return fmt.Errorf("set the password of %s: %w", pend.Username, err)
		}
	case pu.Tags.String() != cu.Tags.String():
		if err := admin.putUser(ctx, pend.Username, pu.PasswordHash, cu.Tags); err != nil {
			return fmt.Errorf("copy the tags of %s to %s: %w", cur.Username, pend.Username, err)
		}
	}
	return nil
}

// checkPrevious proves that the secret owns the existing pending user: it is the AWSPREVIOUS
// user and holds the AWSPREVIOUS password.
func (st *strategy) checkPrevious(ctx context.Context, sc *rotate.StepContext, pend secret, pu user) error {
	pv, ok, err := sc.Previous(ctx)
	if err != nil {
		return err
	}
	if ok {
		if prev, err := parse(pv, rotasafe.StagePrevious); err == nil && prev.Username == pend.Username &&
			hashMatches(pu.PasswordHash, pu.HashingAlgorithm, prev.Password) {
			return nil
		}
	}
	return errNotOwned
}

// admin reads the masterarn secret and returns a management API client as its user.
func (st *strategy) admin(ctx context.Context, sc *rotate.StepContext, cur secret) (*mgmt, error) {
	if cur.MasterARN == "" {
		return nil, errNoMasterARN
	}
	v, err := rotasafe.Fetch(ctx, sc.API, cur.MasterARN, "", rotasafe.StageCurrent)
	if err != nil {
		return nil, fmt.Errorf("read the masterarn secret: %w", err)
	}
	a, err := parse(v, "the masterarn secret")
	if err != nil {
		return nil, err
	}
	if a.mgmtURL != cur.mgmtURL {
		return nil, fmt.Errorf("the masterarn secret names management API %s, AWSCURRENT %s; they must be the same", a.mgmtURL, cur.mgmtURL)
	}
	return &mgmt{rabbitapi.Client{HTTP: st.cfg.http, Base: cur.mgmtURL, User: a.Username, Password: a.Password}}, nil
}

// Test logs in over AMQP with the pending credentials.
func (st *strategy) Test(ctx context.Context, sc *rotate.StepContext) error {
	pend, err := parse(sc.Pending, rotasafe.StagePending)
	if err != nil {
		return err
	}
	if err := st.login(ctx, pend); err != nil {
		return fmt.Errorf("log in as %s with the AWSPENDING password: %w", pend.Username, err)
	}
	return nil
}

// login opens and closes one AMQP connection with s's credentials.
func (st *strategy) login(ctx context.Context, s secret) error {
	scheme := "amqp"
	if s.tls {
		scheme = "amqps"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	timeout := st.cfg.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	tlsCfg := st.cfg.TLS
	if s.tls && tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: s.Host}
	}
	conn, err := amqp.DialConfig(u.String(), amqp.Config{
		SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: s.Username, Password: s.Password}},
		Vhost:           s.vhost,
		TLSClientConfig: tlsCfg,
		Dial:            amqp.DefaultDial(timeout),
		Properties:      amqp.Table{"connection_name": "rotasafe rotation test"},
	})
	if err != nil {
		return redactAMQP(err)
	}
	return conn.Close()
}

// redactAMQP keeps the code and reason of an AMQP error; the library's messages hold no
// password, but a dial error quotes the URL, which here holds none either.
func redactAMQP(err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("AMQP %d: %s", ae.Code, ae.Reason)
	}
	return err
}
