// Package metrics is the provider's Prometheus instrumentation, on a
// registry of its own that `serve` exposes on a separate listener
// (metrics.listen), never on the public port. Every label value comes
// from a closed set (route patterns of the route table, audit events of
// the catalogue, grant types, outcomes), never from a stranger's input:
// raw paths, emails and client ids do not appear.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors. The zero value is not usable; a nil
// *Metrics is, and records nothing (tests and tools without metrics).
type Metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	signIns     *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
}

// New makes the metrics with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status class.",
	}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portcullis_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_sign_in_events_total",
		Help: "Sign-in and second-factor outcomes, by audit event (the audit catalogue) and reason.",
	}, []string{"event", "reason"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_tokens_issued_total",
		Help: "Successful token responses, by grant type.",
	}, []string{"grant"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_backchannel_deliveries_total",
		Help: "Back-channel logout sends, by outcome: delivered, retry or gave_up.",
	}, []string{"outcome"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_rate_limited_total",
		Help: "Requests refused by a per-address limit of this replica, by limit.",
	}, []string{"limit"})
	// The closed label sets start at zero, so a rate() over them works from
	// the first scrape and a dashboard shows 0 rather than "no data".
	for _, o := range []string{Delivered, Retry, GaveUp} {
		m.deliveries.WithLabelValues(o)
	}
	for _, l := range []string{"password", "code", "client_auth", "pending"} {
		m.rateLimited.WithLabelValues(l)
	}
	for g := range grants {
		m.tokens.WithLabelValues(g)
	}
	m.tokens.WithLabelValues("other")
	m.registry.MustRegister(m.requests, m.duration, m.signIns, m.tokens, m.deliveries, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Request records one answered request.
func (m *Metrics) Request(route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, statusClass(status)).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// Grants are the grant types counted by name; any other is "other".
var grants = map[string]bool{"authorization_code": true, "refresh_token": true, "client_credentials": true}

// TokenIssued records a successful token response for grant.
func (m *Metrics) TokenIssued(grant string) {
	if m == nil {
		return
	}
	if !grants[grant] {
		grant = "other"
	}
	m.tokens.WithLabelValues(grant).Inc()
}

// SignInEvent records an audited sign-in or second-factor event; event
// and reason come from the audit catalogue.
func (m *Metrics) SignInEvent(event, reason string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(event, reason).Inc()
}

// Delivery outcomes.
const (
	Delivered = "delivered"
	Retry     = "retry"
	GaveUp    = "gave_up"
)

// Delivery records the outcome of one back-channel logout send.
func (m *Metrics) Delivery(outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
}

// RateLimited records a request refused by the per-address limit named
// limit (password, code, client_auth, pending).
func (m *Metrics) RateLimited(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// Gauge registers a gauge read at scrape time (the hashing gate, the
// back-channel outbox).
func (m *Metrics) Gauge(name, help string, read func() float64) {
	if m == nil {
		return
	}
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}

// Database registers the connection pool's statistics.
func (m *Metrics) Database(db *sql.DB) {
	if m == nil {
		return
	}
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, "portcullis"))
}
