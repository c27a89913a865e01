# syntax=docker/dockerfile:1
# One image with every binary of ./cmd (gateway, provisioner, retention,
# twilio-emulator, textkit); docker-compose.yml runs each service from it with
# its own command. deploy/compose_test.go keeps this file and the compose file
# in step with the repository.

# Must equal the go directive of go.mod (checked by deploy/compose_test.go).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out && go build -trimpath -o /out/ ./cmd/...

FROM debian:bookworm-slim
# CA roots for the real Twilio API; everything else in compose is plain HTTP
# on the compose network.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
# Volume mount points, owned by the service user so fresh named volumes are too.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/textkit textkit \
 && mkdir -p /var/lib/textkit/twilio /var/lib/textkit/vault \
 && chown -R textkit:textkit /var/lib/textkit
USER textkit
WORKDIR /var/lib/textkit
