package redisacl

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/redis/go-redis/v9"

	"github.com/rotasafe/rotasafe"
)

// failingHook fails the k-th Redis command (1-based; the commands a connection's handshake
// sends count) of the clients it is added to, and counts them all. Dials pass: go-redis
// retries a failed dial itself.
type failingHook struct {
	mu   sync.Mutex
	k, n int
}

var errInjected = errors.New("injected redis failure")

func (h *failingHook) next() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if h.n == h.k {
		return errInjected
	}
	return nil
}

func (h *failingHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *failingHook) DialHook(next redis.DialHook) redis.DialHook {
	return next
}

func (h *failingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.next(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *failingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.next(); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// putCurrent is a PutSecretValue that makes value AWSCURRENT.
func putCurrent(id, value string) *secretsmanager.PutSecretValueInput {
	return &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value), VersionStages: []string{rotasafe.StageCurrent}}
}
