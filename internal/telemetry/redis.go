package telemetry

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// RedisHook is a go-redis hook that runs every command and pipeline
// whose context holds a span in a client span of its own ("redis GET",
// "redis pipeline"). Commands without a span in their context (polling,
// health checks) are not traced. Only command names are recorded, never
// arguments: they can be personal data.
type RedisHook struct{}

var _ redis.Hook = RedisHook{}

// DialHook dials untraced.
func (RedisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook traces one command.
func (RedisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmd)
		}
		ctx, span := Start(ctx, "redis "+strings.ToUpper(cmd.Name()), trace.SpanKindClient,
			attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", cmd.Name()))
		err := next(ctx, cmd)
		End(span, redisFailure(err))
		return err
	}
}

// ProcessPipelineHook traces one pipeline or transaction.
func (RedisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		ctx, span := Start(ctx, "redis pipeline", trace.SpanKindClient,
			attribute.String("db.system.name", "redis"), attribute.StringSlice("db.operation.batch", names))
		err := next(ctx, cmds)
		End(span, redisFailure(err))
		return err
	}
}

// redisFailure is err unless it is redis.Nil (a missing key is an
// answer, not a failure).
func redisFailure(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
