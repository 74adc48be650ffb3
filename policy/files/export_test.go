package files

// HoldReads is holdReads for the tests of package files_test.
var HoldReads = holdReads

// Reload is one reload, as Run does on an event.
func (w *Watcher) Reload() error {
	_, err := w.reload()
	return err
}
