// Package streamsopt lets code of this module (the bench) set
// streams.Config options that are not part of its public API. The streams
// package fills in the setters when it is initialised; they are nil in a
// binary that does not import it.
package streamsopt

// OwnProducer, set by package streams, switches cfg (a *streams.Config)
// to the App producer of Millrace's own (internal/rdkbatch.Producer) in
// place of confluent-kafka-go's; cfg of any other type is left alone.
var OwnProducer func(cfg any, on bool)
