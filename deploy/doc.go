// Package deploy holds the deployment configuration shared by the local
// stack (scripts/up.sh), the tests and docker-compose.yml: nats/nats.conf,
// redis/redis.conf, seed.json, the Prometheus alerting rules and scrape
// configuration (prometheus/), and the Grafana dashboard with its
// provisioning (grafana/), which docker-compose.yml's observability
// profile runs. Its tests keep docker-compose.yml, the Dockerfile and
// scripts/up.sh honest against the README's configuration table and those
// files, and the alerts and the dashboard against the metrics the code
// registers. It has no Go API.
package deploy
