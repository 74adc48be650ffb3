# shadowplane and the sample app in one small image.
#
#   docker build -t shadowplane .
#   docker run --rm shadowplane version
#   docker run --rm --entrypoint /sampleapp shadowplane --version v1 --http-addr 0.0.0.0:8080
#
# The compose demo in examples/compose/ builds it for you.

# ---- build: static binaries, no cgo, no local paths in them ----
FROM golang:1.26.8-bookworm AS build
WORKDIR /src

# Modules first, so editing the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/shadowplane ./cmd/shadowplane
RUN go build -trimpath -ldflags "-s -w" -o /out/sampleapp ./examples/sampleapp
# Empty directories for the final image: a named volume mounted on /state
# starts as a copy of this directory, owner included, so the non-root user
# can write experiment state there.
RUN mkdir -p /out/state

# ---- final: no shell, no package manager, not root ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shadowplane /shadowplane
COPY --from=build /out/sampleapp /sampleapp
COPY --from=build --chown=65532:65532 /out/state /state
USER 65532:65532
# 18000: xDS (ADS over gRPC). 19000: admin API, /metrics and /ui/.
EXPOSE 18000 19000
ENTRYPOINT ["/shadowplane"]
CMD ["--help"]
