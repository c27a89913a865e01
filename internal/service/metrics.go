package service

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var readiness = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "textkit_ready",
	Help: "1 when the readiness check (the dependency it names) passed at the last /readyz or scrape, else 0.",
}, []string{"check"})
