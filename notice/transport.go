package notice

import "context"

// Publisher sends notices; a rotation handler needs only this half of a Transport.
type Publisher interface {
	// Publish sends n to every subscriber listening now, at most once each, and returns
	// when the transport has taken it (or failed to); it must return once ctx ends. A nil
	// error does not mean any subscriber got it.
	Publish(ctx context.Context, n Notice) error
}

// Transport carries notices from rotators to applications. Packages redisnotice (Redis
// publish/subscribe) and natsnotice (NATS core) implement it; any broadcast channel will do,
// an SQS queue per application or an EventBridge bus for example.
//
// Contract:
//   - Delivery is at most once and best effort: notices may be lost, duplicated, reordered
//     or delayed, and a listener must behave well under all four (rotasafe's listener only
//     reorders what it tries, and keeps its pull path).
//   - Subscribe calls handle with each notice that decodes, one call at a time, in the order
//     the transport delivers them, until ctx ends; then it returns ctx's error, and handle is
//     not called again. It returns earlier only on an error the transport cannot recover from
//     (the server denies the subscription); it rides out outages, reconnecting on its own.
//   - handle must not block for long: a transport may drop notices while it runs.
//   - Wire forms that do not decode are dropped and logged without their content.
type Transport interface {
	Publisher
	Subscribe(ctx context.Context, handle func(Notice)) error
}
