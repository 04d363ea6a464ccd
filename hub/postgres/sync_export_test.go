package postgres

import (
	"time"

	"github.com/aiff/aiff/domain"
)

// ChangeRowForTest and ChangeColumnsForTest let the ingest benchmark COPY log rows exactly as
// the push path writes them.
func ChangeRowForTest(c domain.Change, received time.Time) []any {
	r, _ := changeRow(c, received)
	return r
}

var ChangeColumnsForTest = changeColumns
