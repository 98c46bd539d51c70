package appadmin

import "errors"

// The sentinel errors callers branch on; every error the package returns
// wraps at most one of them and names what is at fault in words.
var (
	// ErrUnreachable: no broker of the bootstrap list answered within the
	// timeout. The error names the addresses and the timeout.
	ErrUnreachable = errors.New("appadmin: Kafka cluster unreachable")
	// ErrUnknownGroup: nothing is known about the application: no consumer
	// group of that id (no members, no committed offsets) and no internal
	// topic named after it.
	ErrUnknownGroup = errors.New("appadmin: unknown application")
	// ErrGroupNotEmpty: the application's consumer group has members, so
	// instances are (or were recently) running; the error lists them.
	ErrGroupNotEmpty = errors.New("appadmin: consumer group has active members")
	// ErrNothingToDo: the reset would change nothing: offsets already at
	// their target, no internal topics, no committed offsets of internal
	// topics and no local state to delete.
	ErrNothingToDo = errors.New("appadmin: nothing to do")
	// ErrStateDirLocked: the application's local state directory is locked
	// by a running Millrace instance.
	ErrStateDirLocked = errors.New("appadmin: state directory in use")
	// ErrInvalidOptions: the options are wrong (a missing application id, a
	// topic that does not exist, several reset positions, ...); the error
	// lists every problem at once.
	ErrInvalidOptions = errors.New("appadmin: invalid options")
)
