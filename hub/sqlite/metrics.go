package sqlite

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors returns Prometheus collectors for the store's two connection pools, labelled
// pool="writer" and pool="reader". Register them once, after Open.
func (s *Store) Collectors() []prometheus.Collector {
	w, r := s.writer, s.reader // captured: Close may clear the fields while a scrape runs
	return []prometheus.Collector{&poolCollector{pools: map[string]*sql.DB{"writer": w, "reader": r}}}
}

var (
	descOpen = prometheus.NewDesc("aiff_db_connections_open", "Open database connections.",
		[]string{"store", "pool"}, nil)
	descInUse = prometheus.NewDesc("aiff_db_connections_in_use", "Database connections in use.",
		[]string{"store", "pool"}, nil)
	descIdle = prometheus.NewDesc("aiff_db_connections_idle", "Idle database connections.",
		[]string{"store", "pool"}, nil)
	descMax = prometheus.NewDesc("aiff_db_connections_max", "Maximum open database connections.",
		[]string{"store", "pool"}, nil)
	descWait = prometheus.NewDesc("aiff_db_wait_total", "Times a caller waited for a database connection.",
		[]string{"store", "pool"}, nil)
	descWaitSec = prometheus.NewDesc("aiff_db_wait_seconds_total", "Time spent waiting for a database connection.",
		[]string{"store", "pool"}, nil)
)

// poolCollector reads sql.DBStats at scrape time; a pool not open when Collectors was called
// reports nothing.
type poolCollector struct {
	pools map[string]*sql.DB
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descInUse, descIdle, descMax, descWait, descWaitSec} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, db := range c.pools {
		if db == nil {
			continue
		}
		st := db.Stats()
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(st.OpenConnections), "sqlite", name)
		ch <- prometheus.MustNewConstMetric(descInUse, prometheus.GaugeValue, float64(st.InUse), "sqlite", name)
		ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(st.Idle), "sqlite", name)
		ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(st.MaxOpenConnections), "sqlite", name)
		ch <- prometheus.MustNewConstMetric(descWait, prometheus.CounterValue, float64(st.WaitCount), "sqlite", name)
		ch <- prometheus.MustNewConstMetric(descWaitSec, prometheus.CounterValue, st.WaitDuration.Seconds(), "sqlite", name)
	}
}
