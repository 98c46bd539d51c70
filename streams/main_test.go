package streams_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine an App, a client or the embedded broker starts must be
// gone when the tests end, but one: confluent-kafka-go v2.11.1 cannot close
// a consumer after a fatal error (its Close polls forever; see
// closeConsumer), and the fencing test makes one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/confluentinc/confluent-kafka-go/v2/kafka.(*Consumer).Close"))
}
