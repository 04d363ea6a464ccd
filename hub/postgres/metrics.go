package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Collectors returns Prometheus collectors for the store's connection pool, labelled
// store="postgres", pool="main", with the same metric names as hub/sqlite so one dashboard
// serves both. Register them once, after Open.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{&poolCollector{pool: s.pool}}
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
	descAcquires = prometheus.NewDesc("aiff_db_acquires_total", "Connections taken from the pool.",
		[]string{"store", "pool"}, nil)
)

// poolCollector reads pgxpool.Stat at scrape time; a store not open when Collectors was called
// reports nothing.
type poolCollector struct {
	pool *pgxpool.Pool
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descInUse, descIdle, descMax, descWait, descWaitSec, descAcquires} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.pool == nil {
		return
	}
	st := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, "postgres", "main")
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, "postgres", "main")
	}
	gauge(descOpen, float64(st.TotalConns()))
	gauge(descInUse, float64(st.AcquiredConns()))
	gauge(descIdle, float64(st.IdleConns()))
	gauge(descMax, float64(st.MaxConns()))
	counter(descWait, float64(st.EmptyAcquireCount()))
	counter(descWaitSec, st.EmptyAcquireWaitTime().Seconds())
	counter(descAcquires, float64(st.AcquireCount()))
}
