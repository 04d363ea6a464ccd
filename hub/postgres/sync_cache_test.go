package postgres_test

import (
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/storetest"
	"github.com/aiff/aiff/sync/hlc"
)

func TestSyncRowCache(t *testing.T) {
	storetest.RunRowCache(t, func(t *testing.T, now func() time.Time) storetest.RowCacheStore {
		return storetest.OpenPostgresClock(t, now, &hlc.Clock{Node: domain.HubOrigin, Wall: now, MaxSkew: hlc.DefaultMaxSkew})
	})
}
