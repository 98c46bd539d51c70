package streams

import (
	"fmt"
)

// State is the App's lifecycle state (Kafka Streams' KafkaStreams.State).
type State int32

const (
	Created State = iota
	Rebalancing
	Running
	PendingShutdown
	NotRunning
	PendingError
	Error
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Created:
		return "CREATED"
	case Rebalancing:
		return "REBALANCING"
	case Running:
		return "RUNNING"
	case PendingShutdown:
		return "PENDING_SHUTDOWN"
	case NotRunning:
		return "NOT_RUNNING"
	case PendingError:
		return "PENDING_ERROR"
	case Error:
		return "ERROR"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

var appTransitions = map[State][]State{
	Created:         {Rebalancing, PendingShutdown, PendingError},
	Rebalancing:     {Running, Rebalancing, PendingShutdown, PendingError},
	Running:         {Rebalancing, PendingShutdown, PendingError},
	PendingShutdown: {NotRunning},
	PendingError:    {Error},
}

func validTransition(from, to State) bool {
	for _, s := range appTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
