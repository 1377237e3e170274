# syntax=docker/dockerfile:1
# intake: build the release binary, ship it alone on a slim base as an unprivileged user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The commit `intake --version` names (the build context has no .git): --build-arg INTAKE_COMMIT=…
ARG INTAKE_COMMIT=unknown
ENV INTAKE_COMMIT=${INTAKE_COMMIT}
COPY . .
# The registry and target/ are cache mounts, so a change to the sources rebuilds intake and not
# its dependencies. The shipped binary has no debug sections.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin intake \
    && strip --strip-debug target/release/intake -o /intake

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin intake
COPY --from=build /intake /usr/local/bin/intake
COPY config/default.toml /etc/intake/intake.toml
# Price lists are dropped here; queued tasks may read nothing else.
RUN mkdir -p /data && chown intake /data
WORKDIR /data
USER intake
ENV INTAKE__HTTP__BIND=0.0.0.0:9464 \
    INTAKE__SOURCES__ALLOWED_DIRS=/data
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["intake", "health"]
ENTRYPOINT ["intake", "--config", "/etc/intake/intake.toml"]
CMD ["worker"]
