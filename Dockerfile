# Builds seatflow-api and seatflow-worker for docker-compose.yml.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p seatflow-api -p seatflow-worker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/seatflow-api /src/target/release/seatflow-worker /usr/local/bin/
EXPOSE 8080
ENTRYPOINT []
CMD ["seatflow-api"]
