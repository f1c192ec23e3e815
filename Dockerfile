# epc_exporter container image: `docker build -t epc-exporter:0.1.0 .` or `podman build -t epc-exporter:0.1.0 .`
# (pass --build-arg VERSION=... REVISION=$(git rev-parse HEAD) for the labels). The build stage builds the Debian
# package with scripts/build-deb.sh (Release, Debian's hardening flags, stripped, Depends from dpkg-shlibdeps);
# the runtime stage installs that .deb on debian:12-slim, which brings exactly the shared libraries the binary
# links and nothing else. scripts/build-image.sh makes the equivalent image without pulling any base image
# (what CI builds); deploy/README.md, "Container image", explains the user and the capabilities.
ARG DEBIAN_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
ARG REVISION=unknown
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config dpkg-dev help2man \
      prometheus-cpp-dev libboost-dev libspdlog-dev libfmt-dev libssl-dev libyaml-dev libcrypt-dev \
      libncurses-dev libcurl4-openssl-dev \
      clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN EPC_REVISION="${REVISION}" BUILD_DIR=/out scripts/build-deb.sh >/tmp/deb-path \
 && cp "$(tail -1 /tmp/deb-path)" /out/epc-exporter.deb

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="epc_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Intel SGX EPC usage and paging, per pod" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build /out/epc-exporter.deb /tmp/epc-exporter.deb
# apt resolves the package's Depends (the runtime libraries); the systemd unit and man pages it also ships are
# removed, as are apt's lists. epctop stays: `kubectl exec -it <pod> -- epctop` shows the node's pods.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/epc-exporter.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/epc-exporter.deb /lib/systemd/system/epc-exporter.service \
      /etc/default/epc-exporter /usr/share/man/man1/epc_exporter.1.gz /usr/share/man/man1/epctop.1.gz \
      /usr/share/man/man1/epc_bench.1.gz \
 && /usr/bin/epc_exporter --version && /usr/bin/epctop --version && /usr/bin/epc_bench --version
# uid 0 without capabilities beyond the ones the pod adds, which the exporter drops after start-up: see
# deploy/README.md, "Container image".
USER 0:0
EXPOSE 9840/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/epc_exporter"]
CMD ["--path.rootfs=/host"]
