package window

import (
	"errors"
	"fmt"
)

// ErrWindowMismatch is wrapped by the error of a processor whose two
// halves disagree about the window: an aggregation whose store was built
// for another window size or a shorter retention than its windows need
// (Init fails), or a suppression that receives an update for a window it
// already closed, because the upstream windows accept records for longer
// than the grace it was given (the App stops). Both produced wrong results
// silently before; the store helpers (TimeWindowStore, SlidingWindowStore,
// SessionStore) and the DSL derive everything from one window definition
// and cannot disagree.
var ErrWindowMismatch = errors.New("window: window definition mismatch")

// checkWindowStore checks that a window store matches the windows its
// aggregation computes: the same window size and at least the retention
// the windows need (window size + grace), in milliseconds.
func checkWindowStore(op, storeName string, storeSize, storeRetention, size, retention int64) error {
	var errs []error
	if storeSize != size {
		errs = append(errs, fmt.Errorf("%w: %s: store %q holds windows of %d ms, the aggregation's windows are %d ms; "+
			"build the store from the same window definition (window.TimeWindowStore / SlidingWindowStore)",
			ErrWindowMismatch, op, storeName, storeSize, size))
	}
	if storeRetention < retention {
		errs = append(errs, fmt.Errorf("%w: %s: store %q retains windows for %d ms, the windows need %d ms (size + grace); "+
			"records within the grace period would find their windows expired",
			ErrWindowMismatch, op, storeName, storeRetention, retention))
	}
	return errors.Join(errs...)
}
