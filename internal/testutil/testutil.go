// Package testutil holds helpers the project's tests share across packages.
// Nothing outside tests imports it.
package testutil

import "testing"

// NoPanic runs fn and fails the test, naming what, if it panics.
func NoPanic(t testing.TB, what string, fn func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s panicked: %v", what, p)
		}
	}()
	fn()
}
