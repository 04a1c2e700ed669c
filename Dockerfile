# syntax=docker/dockerfile:1
# The controller image: `docker build -t entra-cloud-operator .` (or `make image`).
# Build stage: the release binary, from the locked dependency set. aws-lc-sys compiles with the
# image's gcc; no OpenSSL, no cmake.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Not built here, but Cargo.toml names the benchmark target and cargo refuses a manifest whose
# targets are missing (`make dockerfile-check` stages the context as these lines take it).
COPY benches ./benches
# Cache mounts keep the registry and target/ between builds; the binary is copied out of the
# cached target/ because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin entra-cloud-operator \
    && install -D -m 0755 target/release/entra-cloud-operator /out/entra-cloud-operator

# Runtime: glibc and CA certificates (Graph and the API server over TLS), no shell, no package
# manager, the nonroot user (65532). The same Debian 12 as the builder, so the glibc matches.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="entra-cloud-operator" \
      org.opencontainers.image.description="Converts Entra Connect-synchronised identities into cloud-managed identities in Microsoft Entra ID" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/entra-cloud-operator /entra-cloud-operator
USER 65532:65532
# /metrics, /healthz and /readyz (controller --metrics-addr).
EXPOSE 8080
ENTRYPOINT ["/entra-cloud-operator"]
CMD ["controller"]
