package cli

import "context"

type hardStopKey struct{}

// WithHardStop attaches to ctx a second context, hard, that ends on a
// second interrupt. A fleet run treats the end of ctx as "touch no new
// host" and the end of hard as "cancel the steps in flight too".
func WithHardStop(ctx, hard context.Context) context.Context {
	return context.WithValue(ctx, hardStopKey{}, hard)
}

// hardStop returns the context that cancels in-flight steps: the one
// attached by WithHardStop, else one that never ends (steps then finish
// or time out).
func hardStop(ctx context.Context) context.Context {
	if hard, ok := ctx.Value(hardStopKey{}).(context.Context); ok {
		return hard
	}
	return context.WithoutCancel(ctx)
}
