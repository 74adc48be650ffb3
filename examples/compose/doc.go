// Package compose holds the docker compose demo of shadowplane (see
// README.md): the compose file, its Prometheus configuration, its traffic
// generator and the policy directories of its two scenarios. The package
// has no code; its tests check the compose file with the compose-spec
// loader and everything it refers to against the repository, since the
// demo itself needs a Docker engine to run.
package compose
