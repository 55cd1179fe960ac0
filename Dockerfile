# syntax=docker/dockerfile:1.7
#
# edge-gateway container image.
#
#   docker build -t edge-gateway:0.1.0 .
#   docker build --build-arg PGO=1 -t edge-gateway:0.1.0-pgo .    # profile-guided (slower build)
#   docker run --rm --read-only --tmpfs /tmp \
#     -p 8443:8443 -p 8080:8080 -p 127.0.0.1:9901:9901 \
#     -v "$PWD/edge.toml:/etc/edge-gateway/edge.toml:ro" -v "$PWD/tls:/etc/edge-gateway/tls:ro" \
#     -e EDGE_ADMIN_TOKEN \
#     edge-gateway:0.1.0
#
# The configuration is not baked in: mount it at /etc/edge-gateway/ (the listeners must bind
# 0.0.0.0, not 127.0.0.1, to be reachable from outside the container). `check` works the same
# way: `docker run --rm -v ...:/etc/edge-gateway:ro edge-gateway:0.1.0 check --config
# /etc/edge-gateway/edge.toml`.
#
# Needs BuildKit (the default builder of Docker 23+ and of buildx) for the cache mounts and the
# here-document below. The release profile is fat LTO with one codegen unit: a cold build takes
# several minutes; the cache mounts make rebuilds after a source change relink-bound.
#
# Base images are pinned by tag here. In production pin them by digest too, e.g.
#   docker buildx imagetools inspect rust:1.95-slim-bookworm     # -> sha256:...
#   docker build --build-arg RUST_IMAGE=rust:1.95-slim-bookworm@sha256:<digest> \
#                --build-arg RUNTIME_IMAGE=debian:bookworm-slim@sha256:<digest> .
# (and let Renovate/Dependabot bump the digests), so a rebuild of the same commit uses the same
# compiler and the same runtime libraries.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

# cmake + a C toolchain: Pingora builds zlib-ng with CMake, ring and mimalloc compile C.
# pkg-config for -sys crates that probe for system libraries. ca-certificates: its bundle is
# copied into the runtime image (the gateway verifies TLS origins with the system roots).
# Versions are not pinned (hadolint DL3008): this stage is not shipped, and the base image tag
# (or digest) already fixes the Debian release; exact pins break at every Debian point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential \
      ca-certificates \
      cmake \
      pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole workspace (filtered by .dockerignore): cargo needs every member's manifest and
# Cargo.lock to resolve the workspace with --locked, even when building one package.
COPY . .

# PGO=1: a profile-guided build, `cargo xtask pgo` (see docs/performance.md): the gateway is
# built instrumented (-Cprofile-generate), trained inside this stage by the load-test harness
# (simulated origins; an nginx backend, wrk and h2load for the benchmark workloads; all on the
# build container's loopback, nothing leaves it), the counts are merged with llvm-profdata-19
# (rustc 1.95 writes LLVM 22 profiles; Debian 12's llvm-profdata-14 cannot read them) and the
# gateway is rebuilt with -Cprofile-use. Two fat-LTO builds, the harness's build and about a
# minute of training: expect three to four times the plain build's time. The tools are
# installed in this stage only; the runtime image is the same either way.
# PGO=0 (the default): the plain release build.
ARG PGO=0
# hadolint ignore=DL3008
RUN if [ "${PGO}" = "1" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends llvm-19 nginx wrk nghttp2-client \
      && rm -rf /var/lib/apt/lists/*; \
    elif [ "${PGO}" != "0" ]; then \
      echo "PGO must be 0 or 1, not '${PGO}'" >&2; exit 1; \
    fi

# Parallel jobs; lower it on small builders if fat LTO runs out of memory.
ARG CARGO_BUILD_JOBS=
ARG TARGETARCH
# The registry and the target directory are BuildKit cache mounts: they survive between builds
# but are not part of any layer, so the binary is copied out of the target directory before the
# step ends. The target cache is keyed by architecture so multi-arch builds do not share it.
RUN --mount=type=cache,id=edge-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=edge-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=edge-target-${TARGETARCH},target=/src/target,sharing=locked \
    if [ -n "${CARGO_BUILD_JOBS}" ]; then export CARGO_BUILD_JOBS; else unset CARGO_BUILD_JOBS; fi \
 && if [ "${PGO}" = "1" ]; then \
      cargo xtask pgo --no-default-features --locked \
      && install -D -m 0755 target/pgo/edge-gateway /out/edge-gateway; \
    else \
      cargo build --release --locked --no-default-features -p edge-gateway --bin edge-gateway \
      && install -D -m 0755 target/release/edge-gateway /out/edge-gateway; \
    fi \
 && /out/edge-gateway --version

# ---------------------------------------------------------------------------------------------
# Runtime stage
#
# debian:bookworm-slim rather than gcr.io/distroless/cc-debian12:nonroot, deliberately:
#   * the same Debian release (glibc 2.36) as the builder, like distroless cc-debian12;
#   * a Docker HEALTHCHECK must run a program inside the container. Distroless has no shell and
#     no HTTP client, and the gateway has no probe subcommand; bookworm-slim already ships bash,
#     whose /dev/tcp is enough for a plain HTTP GET to the local admin listener, so nothing is
#     installed for it (no curl and its ~20 libraries);
#   * `kubectl exec` / `docker exec` debugging remains possible.
# The cost is a shell and apt in the image. It is kept small: nothing is installed with apt;
# only the binary, the CA bundle and a 10-line probe script are added; setuid/setgid bits are
# removed; the process runs as an unprivileged numeric UID; the Kubernetes manifests add a
# read-only root filesystem, no capabilities and no privilege escalation.
# (In Kubernetes the HEALTHCHECK is ignored: the kubelet's httpGet probes need nothing in the
# image. To switch to distroless, use RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot,
# drop the RUN and HEALTHCHECK below, and USER 65532.)
# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=
LABEL org.opencontainers.image.title="edge-gateway" \
      org.opencontainers.image.description="Edge gateway and traffic router: TLS termination, tenant residency routing and failover on Pingora." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/edge-gateway" \
      org.opencontainers.image.documentation="https://example.invalid/edge-gateway#readme" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# A system user with a fixed numeric UID/GID (Kubernetes' runAsNonRoot can only verify a
# numeric USER), no home and no login shell. The config directory is a mount point; nothing in
# the image is writable by the user except /tmp (Pingora's graceful-upgrade socket lives there:
# mount a tmpfs/emptyDir on it when the root filesystem is read-only).
RUN groupadd --system --gid 10001 edge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin edge \
 && mkdir -p /etc/edge-gateway/tls \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} +

COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/edge-gateway /usr/local/bin/edge-gateway

# Container health probe: GET /healthz on the admin listener (unauthenticated), healthy only on
# HTTP 200. The admin listener must be configured (listeners.admin) on 0.0.0.0 or 127.0.0.1;
# set EDGE_ADMIN_PORT if it is not 9901.
COPY --chmod=0755 <<'EOF' /usr/local/bin/edge-healthcheck
#!/bin/bash
# GET http://127.0.0.1:${EDGE_ADMIN_PORT:-9901}/healthz; exit 0 on status 200, 1 otherwise.
set -u
port="${EDGE_ADMIN_PORT:-9901}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: edge-healthcheck\r\nConnection: close\r\n\r\n' "${port}" >&3 || exit 1
IFS=' ' read -r -t 2 _version status _reason <&3 || exit 1
[ "${status}" = "200" ]
EOF

# Verified by rustls (via rustls-native-certs) for origins with tls = true.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

USER 10001:10001

# https, http (308 redirect to https), admin API. All above 1024: no capability needed.
EXPOSE 8443 8080 9901

# SIGTERM: graceful stop (stop accepting, wait server.grace_period for in-flight requests).
# SIGQUIT hands the listening sockets to a new `run --upgrade` process (in-place upgrades on a
# VM; in Kubernetes a rolling update replaces pods instead).
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/edge-healthcheck"]

ENTRYPOINT ["/usr/local/bin/edge-gateway"]
CMD ["run", "--config", "/etc/edge-gateway/edge.toml"]
