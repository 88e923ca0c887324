package login_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/login"
	"github.com/rotasafe/rotasafe/smtest"
)

// broker stands in for a service rotasafe has no client for: a message broker whose Dial
// takes a user name and password and fails with errors the client can tell apart.
type broker struct {
	mu       sync.Mutex
	password string // the one password the broker takes
	busy     int    // how many dials fail with errBusy before the next one is served
}

var (
	errBadPassword = errors.New("broker: bad user name or password")
	errBusy        = errors.New("broker: too many connections, try again")
)

type brokerConn struct{ user string }

func (b *broker) Dial(_ context.Context, user, password string) (*brokerConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.busy > 0:
		b.busy--
		return nil, errBusy
	case password != b.password:
		return nil, errBadPassword
	}
	return &brokerConn{user: user}, nil
}

// brokerconn is the whole client: a Walker per secret, and a Try that dials the broker with
// a version's credentials and marks how the dial failed.
type brokerconn struct {
	b *broker
	w *login.Walker
}

func (c *brokerconn) Connect(ctx context.Context) (*brokerConn, error) {
	var conn *brokerConn
	_, err := c.w.Login(ctx, func(ctx context.Context, v rotasafe.Version) error {
		s, err := rotasafe.ParseDBSecret([]byte(v.SecretString))
		if err != nil {
			return login.Unusable(err) // this version's JSON is broken: try the next label
		}
		conn, err = c.b.Dial(ctx, s.Username, s.Password)
		switch {
		case errors.Is(err, errBadPassword):
			return login.Rejected(err) // read the other labels, try what they hold
		case errors.Is(err, errBusy):
			return login.Transient(err) // wait with jitter, try again
		}
		return err // nil, or a failure that other credentials and waiting would not fix
	})
	return conn, err
}

// A client for a service rotasafe has no client for is a Try: one login that marks its
// failures. Here a broker's password rotates; the client finds the new one in AWSPENDING.
func Example() {
	srv := smtest.NewServer() // stands in for Secrets Manager; pass your *secretsmanager.Client
	defer srv.Close()
	api := srv.Client()
	ctx := context.Background()
	const id = "prod/app/broker"
	secret := func(pw string) *string {
		return aws.String(`{"host":"broker.internal","username":"app","password":"` + pw + `"}`)
	}
	if _, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: secret("s3cret-1")}); err != nil {
		panic(err)
	}
	c := cache.New(api)
	defer c.Close()

	b := &broker{password: "s3cret-1", busy: 1}
	client := &brokerconn{b: b, w: login.New(c, id, login.WithClient("brokerconn"), login.WithLogger(nil))}
	conn, err := client.Connect(ctx)
	fmt.Println("connected as", conn.user, err)

	// A rotation stores a new password under AWSPENDING and sets it on the broker.
	if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id),
		SecretString: secret("s3cret-2"), VersionStages: []string{rotasafe.StagePending}}); err != nil {
		panic(err)
	}
	b.mu.Lock()
	b.password = "s3cret-2"
	b.mu.Unlock()

	conn, err = client.Connect(ctx)
	fmt.Println("connected as", conn.user, err)
	st := client.w.Stats()
	fmt.Printf("connects %d, logins %d, rejected %d, fallbacks to AWSPENDING %d, retries %d\n",
		st.Connects, st.Logins, st.Rejected.Total(), st.Fallbacks.Pending, st.Retries)
	// Output:
	// connected as app <nil>
	// connected as app <nil>
	// connects 2, logins 4, rejected 1, fallbacks to AWSPENDING 1, retries 1
}
