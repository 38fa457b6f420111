# agnhost as upstream builds it (k8s.io/kubernetes test/images/agnhost/Dockerfile
# at the pinned Kubernetes release), on Debian instead of Alpine. Test
# infrastructure of the local cluster, built by localcluster/imagebuild/ (recipes.py) from
# a context it stages: the agnhost binary that localcluster/build.py builds
# from the same release, and porter's test certificate from its sources.
#
# Upstream's `apk add` and the Debian packages here:
#   bind-tools      -> bind9-dnsutils (dig, nslookup, host)
#   curl            -> curl, with ca-certificates (Alpine's curl pulls in its bundle)
#   netcat-openbsd  -> netcat-openbsd (`nc -v`, `nc -z`, `nc -u`)
#   iproute2        -> iproute2 (ip, ss)
#   iperf           -> iperf (iperf 2, as Alpine's `iperf`)
#   bash            -> bash (already in the base)
#   util-linux-misc -> util-linux (already in the base: nsenter, unshare, ...)
#   socat           -> socat
# Alpine's base adds busybox, whose applets tools run in agnhost pods too
# (the conformance probes use `wget -q -O -`, e2e tests `ping` and `ps`):
#   busybox wget, ping, ps -> wget, iputils-ping, procps
# Left out: CoreDNS 1.6.2, which upstream downloads from its releases page, and
# the fake registry's content (/var/registry), which upstream copies from
# registries with crane: neither can be fetched here.
FROM docker.io/library/debian:bookworm-20260824-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        bind9-dnsutils curl ca-certificates netcat-openbsd iproute2 iperf bash util-linux socat \
        wget iputils-ping procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/iperf /usr/local/bin/iperf

# 80: test-webserver; 8080: netexec, nettest, resource-consumer; 8081: netexec;
# 9376: serve-hostname; 5000: grpc-health-checking.
EXPOSE 80 8080 8081 9376 5000

# from netexec
RUN mkdir /uploads

# from porter
COPY porter/localhost.crt localhost.crt
COPY porter/localhost.key localhost.key

COPY agnhost agnhost

# The entrypoint-tester tests override the entrypoint with agnhost-2.
RUN ln -s agnhost agnhost-2

# The SupplementalGroups e2e test expects a user and group defined in the image:
# user-defined-in-image (uid 1000) in group-defined-in-image (gid 50000).
RUN useradd --uid 1000 --create-home --shell /bin/sh user-defined-in-image \
 && groupadd --gid 50000 group-defined-in-image \
 && usermod --append --groups group-defined-in-image user-defined-in-image

ENTRYPOINT ["/agnhost"]
CMD ["pause"]
