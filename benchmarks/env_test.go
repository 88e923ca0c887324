package benchmarks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotasafe/rotasafe/smtest"
)

// secretJSON is the value stored by the benchmarks that need no database: the JSON AWS
// documents for a PostgreSQL secret, with a password that is not one.
const secretJSON = `{"engine":"postgres","host":"db.example","port":5432,"username":"app","password":"not-a-secret-0123456789","dbname":"app"}`

// newSM starts a Secrets Manager with one secret named id holding secretJSON and returns the
// server and a real SDK client wired to it.
func newSM(tb testing.TB, id string) (*smtest.Server, *secretsmanager.Client) {
	tb.Helper()
	sm := smtest.New(tb)
	client := sm.Client()
	createSecret(tb, client, id, secretJSON)
	return sm, client
}

// createSecret stores value as a new secret named id.
func createSecret(tb testing.TB, client *secretsmanager.Client, id, value string) {
	tb.Helper()
	_, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(id), SecretString: aws.String(value)})
	if err != nil {
		tb.Fatalf("create secret %s: %v", id, err)
	}
}

// putCurrent stores value as a new AWSCURRENT version of id (AWSPREVIOUS follows).
func putCurrent(tb testing.TB, client *secretsmanager.Client, id, value string) {
	tb.Helper()
	_, err := client.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), SecretString: aws.String(value)})
	if err != nil {
		tb.Fatalf("put secret value %s: %v", id, err)
	}
}

// EnvOut names the environment variable holding a directory where benchmarks write their raw
// samples as JSON (file name: the benchmark's name), for cmd/report's charts. Unset: nothing
// is written.
const EnvOut = "ROTASAFE_BENCH_OUT"

// writeSamples writes v as JSON to $ROTASAFE_BENCH_OUT/name.json when the variable is set.
func writeSamples(tb testing.TB, name string, v any) {
	tb.Helper()
	dir := os.Getenv(EnvOut)
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// inOrder returns impls in the order a paired benchmark runs them: as given (rotasafe
// first), or reversed when ROTASAFE_BENCH_PEER_FIRST=1, which the report sets in every other
// round so that an effect of going first falls on each side in turn.
func inOrder[T any](impls []T) []T {
	if os.Getenv("ROTASAFE_BENCH_PEER_FIRST") != "1" {
		return impls
	}
	r := slices.Clone(impls)
	slices.Reverse(r)
	return r
}
