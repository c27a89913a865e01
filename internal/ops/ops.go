// Package ops holds what the operators' commands of `textkit` do (dlq,
// command show, customer show, keys due): reads of the dead-letter stream
// and of the state in Redis, and the few repairs an on-call engineer may
// make (replaying a dead-lettered command, purging dead letters). Nothing
// here returns a message body or contact info: dead letters hold none, and
// a customer's contact info is shown only as whether it is set.
package ops

import "errors"

// ErrNotFound means what was asked for does not exist (or no longer
// does): a dead letter, a command, a customer, or the original command a
// dead letter names. textkit answers it with its own exit code.
var ErrNotFound = errors.New("not found")
