// Package deploy holds the deployment configuration shared by the local
// stack (scripts/up.sh), the tests and docker-compose.yml: nats/nats.conf,
// redis/redis.conf, seed.json, and the Prometheus alerting rules,
// prometheus/alerts.yml. Its tests keep docker-compose.yml, the Dockerfile
// and scripts/up.sh honest against the README's configuration table and
// those files, and the alerts against the metrics the code registers. It
// has no Go API.
package deploy
