// Command smtest runs the smtest Secrets Manager as a standalone server, so any
// SigV4-signed SDK or CLI request can talk to it (signatures are not checked):
//
//	go run ./smtest/cmd/smtest -addr 127.0.0.1:4566 -seed secrets.json
//	aws --endpoint-url http://127.0.0.1:4566 secretsmanager get-secret-value --secret-id prod/db
//
// The seed file is either a JSON object mapping names to values (a string is stored as is,
// any other JSON value as its JSON text) or a JSON array of CreateSecret inputs
// ({"Name", "SecretString" or "SecretBinary" (base64), "Description", "Tags"}). -lambda
// ARN=URL (repeatable) makes RotateSecret invoke a Lambda function through its invoke URL,
// such as the Lambda Runtime Interface Emulator serves. -v logs one line per request
// (operation, status, error code; never a value).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotasafe/rotasafe/smtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "smtest:", err)
		os.Exit(1)
	}
}

// lambdas collects repeated -lambda ARN=URL flags.
type lambdas map[string]string

func (l lambdas) String() string { return fmt.Sprint(map[string]string(l)) }

func (l lambdas) Set(v string) error {
	arn, url, ok := strings.Cut(v, "=")
	if !ok || arn == "" || url == "" {
		return errors.New("want ARN=URL")
	}
	l[arn] = url
	return nil
}

// run serves until ctx is done. ready, when not nil, is called with the server's URL once it
// is listening and seeded.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(url string)) error {
	fs := flag.NewFlagSet("smtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4566", "listen address (host:port)")
	seed := fs.String("seed", "", "JSON file of secrets to create at start")
	region := fs.String("region", smtest.DefaultRegion, "region in ARNs")
	account := fs.String("account", smtest.DefaultAccountID, "account ID in ARNs")
	verbose := fs.Bool("v", false, "log one line per request (operation names only)")
	fns := lambdas{}
	fs.Var(fns, "lambda", "rotation function `ARN=URL` (repeatable): RotateSecret with that ARN invokes URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var seeds []secretsmanager.CreateSecretInput
	if *seed != "" {
		var err error
		if seeds, err = readSeed(*seed); err != nil {
			return err
		}
	}
	opts := []smtest.Option{smtest.WithAddr(*addr), smtest.WithRegion(*region), smtest.WithAccountID(*account)}
	if *verbose {
		opts = append(opts, smtest.WithRequestLog(slog.New(slog.NewTextHandler(stderr, nil))))
	}
	s, err := newServer(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	for arn, url := range fns {
		s.RegisterRotationURL(arn, url)
	}
	client := s.Client()
	for i := range seeds {
		if _, err := client.CreateSecret(ctx, &seeds[i]); err != nil {
			return fmt.Errorf("seed secret %d (%s): %w", i, derefName(seeds[i].Name), err)
		}
	}
	fmt.Fprintf(stderr, "smtest: Secrets Manager listening on %s (%d secrets seeded)\n", s.URL, len(seeds))
	if ready != nil {
		ready(s.URL)
	}
	<-ctx.Done()
	return nil
}

// newServer turns NewServer's panic on a busy address into an error.
func newServer(opts ...smtest.Option) (s *smtest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return smtest.NewServer(opts...), nil
}

func derefName(p *string) string {
	if p == nil {
		return "no name"
	}
	return *p
}

// seedEntry is one CreateSecret input in a seed file.
type seedEntry struct {
	Name         string
	Description  *string
	SecretString *string
	SecretBinary []byte
	Tags         []struct{ Key, Value string }
}

// readSeed reads a seed file. Errors name the file and the entry, never a value.
func readSeed(path string) ([]secretsmanager.CreateSecretInput, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("seed file %s is not valid JSON", path)
	}
	var out []secretsmanager.CreateSecretInput
	switch strings.TrimSpace(string(raw))[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("seed file %s: want an object of name: value", path)
		}
		for name, v := range m {
			var str string
			if json.Unmarshal(v, &str) != nil {
				str = string(v)
			}
			out = append(out, secretsmanager.CreateSecretInput{Name: &name, SecretString: &str})
		}
	case '[':
		var entries []seedEntry
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("seed file %s: want an array of {Name, SecretString|SecretBinary, Description, Tags}", path)
		}
		for i, e := range entries {
			if e.Name == "" {
				return nil, fmt.Errorf("seed file %s: entry %d has no Name", path, i)
			}
			in := secretsmanager.CreateSecretInput{Name: &e.Name, Description: e.Description, SecretString: e.SecretString, SecretBinary: e.SecretBinary}
			for _, t := range e.Tags {
				in.Tags = append(in.Tags, types.Tag{Key: &t.Key, Value: &t.Value})
			}
			out = append(out, in)
		}
	default:
		return nil, fmt.Errorf("seed file %s: want a JSON object or array", path)
	}
	return out, nil
}
