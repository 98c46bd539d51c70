package streams

// Crash stops a running App hard, as a killed process would: no commit, no
// checkpoint, queued output purged. Tests restart from the same state
// directory afterwards.
func Crash(a *App) error {
	a.crash.Store(true)
	return a.Close()
}
