# Builds seatflow-api and seatflow-worker for docker-compose.yml. Two stages: a Rust toolchain
# builds the binaries; the runtime image holds only them, their shared libraries and curl (for
# health checks), and runs as an unprivileged user.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p seatflow-api -p seatflow-worker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home-dir /var/lib/seatflow --create-home seatflow
COPY --from=build /src/target/release/seatflow-api /src/target/release/seatflow-worker /usr/local/bin/
USER seatflow
WORKDIR /var/lib/seatflow
EXPOSE 8080 9187
CMD ["seatflow-api"]
