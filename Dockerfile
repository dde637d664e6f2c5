# mfa-authz container image: a static binary on distroless, run as non-root.
#
#   docker build -t mfa-authz --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 9191:9191 -p 9192:9192 \
#     -v "$PWD/my-config.yaml:/etc/mfa-authz/config.yaml:ro" mfa-authz
#
# The config must listen on 0.0.0.0 (server.grpc_address, server.http_address)
# and put storage.path and storage.key_file on mounted volumes: the image's
# filesystem is meant to be read-only. envoy/istio/deployment.yaml runs it so.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static (no cgo), reproducible paths, stripped; the same flags as `make build`.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/mfa-authz ./cmd/mfa-authz

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mfa-authz /usr/local/bin/mfa-authz
# distroless's nonroot user and group: 65532.
USER 65532:65532
# 9191: ext_authz gRPC (Check, health, reflection). 9192: HTTP /healthz, /readyz.
EXPOSE 9191 9192
ENTRYPOINT ["/usr/local/bin/mfa-authz", "serve", "--config", "/etc/mfa-authz/config.yaml"]
