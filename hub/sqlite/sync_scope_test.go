package sqlite_test

import (
	"testing"
	"time"

	"github.com/aiff/aiff/hub/storetest"
)

func TestScope(t *testing.T) {
	storetest.RunScope(t, storetest.OpenSQLite(t, time.Now))
}
