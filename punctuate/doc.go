// Package punctuate is the schedule queue behind Context.Schedule: periodic
// callbacks driven by stream time or by the wall clock.
//
// Semantics (those of Kafka Streams' PunctuationQueue and PunctuationSchedule):
//   - A schedule has a grid: start, start+interval, start+2·interval, ...
//     Stream-time schedules start at 0; the runtime only calls MayPunctuate
//     for stream time once stream time is known, so they never fire before
//     the first record. Wall-clock schedules start at now+interval.
//   - MayPunctuate(now) fires every schedule whose next grid point is <= now,
//     passing now (not the grid point). A schedule that fell several
//     intervals behind fires once; its next point is the first grid point
//     after now, so there is no catch-up storm and no drift.
//   - Schedules due at the same time fire in registration order.
//   - Cancel works from anywhere, including the schedule's own callback; a
//     callback may add schedules, which fire in the same MayPunctuate call if
//     already due.
//   - Intervals are at least one millisecond.
//   - Time runs out at math.MaxInt64 (every int64 is a valid time). Grid
//     arithmetic never overflows: a grid point exactly at math.MaxInt64
//     still fires, but a schedule whose next grid point would pass it is
//     Exhausted: it has fired for the last time, leaves the queue (Len drops,
//     Cancel stays safe) and MayPunctuate returns. Wrapping around instead
//     would put the next point in the distant past and fire the schedule
//     forever (Kafka Streams' PunctuationSchedule has that bug).
//
// A Queue belongs to one task goroutine and is not safe for concurrent use.
package punctuate
