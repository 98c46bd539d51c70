package streams

import (
	"fmt"
)

// State is the App's lifecycle state (Kafka Streams' KafkaStreams.State).
type State int32

// App states, as Kafka Streams names them.
const (
	// Created: New returned, Run not called yet.
	Created State = iota
	// Rebalancing: joining the group, or tasks are being created and
	// restored.
	Rebalancing
	// Running: every assigned task is processing.
	Running
	// PendingShutdown: Close was called or Run's context ended; committing
	// and closing. A failure while shutting down moves on to PendingError.
	PendingShutdown
	// NotRunning: stopped cleanly.
	NotRunning
	// PendingError: a fatal error; closing.
	PendingError
	// Error: stopped by an error, which Run returned.
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
	PendingShutdown: {NotRunning, PendingError},
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
