package provisioner_test

import "context"

// EraseCommand completes the benchmark's discarding publisher.
func (discard) EraseCommand(context.Context, uint64) error { return nil }
