# Build stage: the release binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin intake

# Runtime stage: the binary alone, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin intake
COPY --from=build /src/target/release/intake /usr/local/bin/intake
USER intake
ENTRYPOINT []
CMD ["intake", "worker"]
