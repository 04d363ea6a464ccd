package postgres

// SetSearchWindow sets how many rows a text search probes before it turns to the trigram
// index, so tests can drive both paths on small tables. It returns a func that restores it.
func SetSearchWindow(n int) (restore func()) {
	old := searchWindow
	searchWindow = n
	return func() { searchWindow = old }
}
