# syntax=docker/dockerfile:1
# tandem's container image: one static binary on distroless, running as a non-root user.
#
#   docker build -t tandem .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/repo" -w /repo tandem -e prod plan
#
# The build stage runs on the builder's own platform and cross-compiles for the image's platform
# (TARGETARCH) with cargo-zigbuild, zig being the C compiler and linker for libgit2, aws-lc and
# mimalloc: a linux/amd64 + linux/arm64 build needs no emulation, and both binaries are static
# (musl), so the runtime image needs no libc.
ARG RUST_VERSION=1.95.0

FROM --platform=$BUILDPLATFORM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
ARG TARGETARCH
ARG CARGO_ZIGBUILD_VERSION=0.24.0
ARG ZIGLANG_VERSION=0.17.0
# cargo-zigbuild runs zig as `python3 -m ziglang`: both from PyPI, pinned, in a virtualenv on PATH.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/zig \
 && /opt/zig/bin/pip install --no-cache-dir \
      "cargo-zigbuild==${CARGO_ZIGBUILD_VERSION}" "ziglang==${ZIGLANG_VERSION}"
ENV PATH=/opt/zig/bin:$PATH \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /src
COPY . .
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "no tandem build for $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && rustup target add "$target" \
 && cargo zigbuild --release --locked --target "$target" --bin tandem \
 && install -D -m 0755 "target/$target/release/tandem" /out/tandem

# static-debian12 holds CA certificates (for https to the workspaces), /etc/passwd with the
# nonroot user (uid 65532) and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tandem /usr/local/bin/tandem
USER 65532:65532
WORKDIR /repo
ENTRYPOINT ["/usr/local/bin/tandem"]
