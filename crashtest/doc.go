// Package crashtest is the crash suite: it runs Apps as separate processes
// against an embedded broker in its own process, kills them with SIGKILL at
// random times and at named points inside commits, restorations and
// checkpoints (internal/faultpoint), restarts them, and checks the results
// against the processing guarantee. The package holds only tests; see
// crash_test.go.
package crashtest
