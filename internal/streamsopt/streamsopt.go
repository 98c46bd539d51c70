// Package streamsopt lets code of this module (the bench) set
// streams.Config options that are not part of its public API. The streams
// package fills in the setters when it is initialised; they are nil in a
// binary that does not import it.
package streamsopt

// WrapperProducer, set by package streams, switches cfg (a
// *streams.Config) to confluent-kafka-go's producer (on) or to the App's
// default, Millrace's own client internal/rdkbatch.Producer (off); cfg of
// any other type is left alone.
var WrapperProducer func(cfg any, on bool)
