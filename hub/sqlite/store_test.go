package sqlite_test

import (
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) domain.Store {
		return storetest.OpenSQLite(t, now)
	})
}
