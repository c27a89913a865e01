// Package deploy holds the deployment configuration shared by the local
// stack (scripts/up.sh), the tests and docker-compose.yml: nats/nats.conf,
// redis/redis.conf, seed.json. Its test keeps docker-compose.yml, the
// Dockerfile and scripts/up.sh honest against the README's configuration
// table and those files. It has no Go API.
package deploy
