# syntax=docker/dockerfile:1
# Build: a static, CGO-free binary (SQLite is pure Go).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN mkdir -p /out/data && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/portcullis ./cmd/portcullis

# Run: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcullis /usr/local/bin/portcullis
COPY --from=build --chown=65532:65532 /out/data /var/lib/portcullis
# The SQLite default keeps its file here; mount a volume to keep it.
ENV PORTCULLIS_DATA_DIR=/var/lib/portcullis \
    PORTCULLIS_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/portcullis"]
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
