package streams_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine an App, a client or the embedded broker starts must be
// gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
