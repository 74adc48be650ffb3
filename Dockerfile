# shadowplane and the sample app in one small image.
#
#   docker build -t shadowplane .
#   docker run --rm shadowplane version
#   docker run --rm --entrypoint /sampleapp shadowplane --version v1 --http-addr 0.0.0.0:8080
#
# The compose demo in examples/compose/ builds it for you.

# Base images are pinned by tag and digest: a tag can be pushed again, a
# digest cannot, so the same Dockerfile builds on the same bases. The
# digests are the multi-architecture index digests (amd64 and arm64) as
# published for these tags. To move on (a Go patch release, a distroless
# rebuild with security fixes), change tag and digest together:
#   docker buildx imagetools inspect golang:1.26.8-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and copy the "Digest:" line of each (or: crane digest IMAGE:TAG).
# examples/compose/dockerfile_test.go refuses a FROM without a digest.

# ---- build: static binaries, no cgo, no local paths in them ----
FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
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
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/shadowplane /shadowplane
COPY --from=build /out/sampleapp /sampleapp
COPY --from=build --chown=65532:65532 /out/state /state
USER 65532:65532
# 18000: xDS (ADS over gRPC). 19000: admin API, /metrics and /ui/.
EXPOSE 18000 19000
ENTRYPOINT ["/shadowplane"]
CMD ["--help"]
