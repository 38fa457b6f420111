# Images of the project's two programs, one target each:
#
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt --target lbctl -t lbctl:0.1.0 .
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt --target nodeproxy -t nodeproxy:0.1.0 .
#
# One multi-target file rather than one per program: lbctl and nodeproxy are one
# Python distribution (pyproject.toml) with one lock, so they share the base
# pin, the Python runtime stage and the builder; two files would repeat all
# three and drift apart. docs/images.md has sizes, build times and choices.
#
# The secret `ca` is optional: where downloads pass through a TLS proxy, hand
# the host's CA bundle to the build that way. Download steps mount it at
# /run/secrets/ca for their duration only; it is never copied into an image.
#
# Without a Docker daemon, `python -m localcluster.imagebuild` builds the same
# targets with buildah (--isolation chroot) FROM a base of the same name that
# debootstrap makes locally.

# ---- the Python runtime both programs run on: Debian's own Python 3.11 -------
FROM docker.io/library/debian:bookworm-20260824-slim AS python-runtime
# pydoc's topic texts and the stdlib's test support are for interactive use
# and CPython's own tests: 2 MB no program here reads.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 \
 && rm -rf /var/lib/apt/lists/* /usr/lib/python3.11/pydoc_data /usr/lib/python3.11/test
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# ---- builder: venv and pip, pinned build backend -------------------------------
FROM python-runtime AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
COPY requirements/build.txt /src/requirements/build.txt
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /src/requirements/build.txt

# ---- the project as a wheel (lbctl, nodeproxy, lbcommon; nothing else) ----------
FROM builder AS wheel
COPY pyproject.toml README.md /src/
COPY lbcommon /src/lbcommon
COPY lbctl /src/lbctl
COPY nodeproxy /src/nodeproxy
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir=/wheels /src

# ---- one venv per image, from the lock files (hashes required) -----------------
# prune-venv.sh then drops what no program imports and zips the kubernetes
# client (see the script; docs/images.md has the sizes).
FROM builder AS venv-core
COPY requirements/core.txt requirements/prune-venv.sh /src/requirements/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install \
        --require-hashes --no-deps --only-binary=:all: -r /src/requirements/core.txt \
 && sh /src/requirements/prune-venv.sh /opt/venv
COPY --from=wheel /wheels /wheels
RUN /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install --no-deps --no-index /wheels/*.whl

FROM builder AS venv-gce
COPY requirements/gce.txt requirements/prune-venv.sh /src/requirements/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install \
        --require-hashes --no-deps --only-binary=:all: -r /src/requirements/gce.txt \
 && sh /src/requirements/prune-venv.sh /opt/venv
COPY --from=wheel /wheels /wheels
RUN /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install --no-deps --no-index /wheels/*.whl

FROM builder AS venv-aws
COPY requirements/aws.txt requirements/prune-venv.sh /src/requirements/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install \
        --require-hashes --no-deps --only-binary=:all: -r /src/requirements/aws.txt \
 && sh /src/requirements/prune-venv.sh /opt/venv
COPY --from=wheel /wheels /wheels
RUN /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install --no-deps --no-index /wheels/*.whl

FROM builder AS venv-all
COPY requirements/all.txt requirements/prune-venv.sh /src/requirements/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install \
        --require-hashes --no-deps --only-binary=:all: -r /src/requirements/all.txt \
 && sh /src/requirements/prune-venv.sh /opt/venv
COPY --from=wheel /wheels /wheels
RUN /opt/build/bin/pip --python=/opt/venv/bin/python3.11 install --no-deps --no-index /wheels/*.whl

# ---- nodeproxy: the data plane; executes nft and ip ------------------------------
# It runs as root in its pod, with only NET_ADMIN and NET_RAW (the DaemonSet
# drops every other capability): nftables and addresses need them.
FROM python-runtime AS nodeproxy
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=venv-core /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 0:0
ENTRYPOINT ["nodeproxy"]

# ---- lbctl: the controller, as a non-root user --------------------------------------
# `lbctl` carries the local provider; `lbctl-gce`, `lbctl-aws` add one cloud
# SDK each and `lbctl-all` both (docs/images.md: why not one image for all).
FROM python-runtime AS lbctl-runtime
RUN groupadd --system --gid 65532 lbctl \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin lbctl
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
ENTRYPOINT ["lbctl"]

FROM lbctl-runtime AS lbctl-gce
COPY --from=venv-gce /opt/venv /opt/venv

FROM lbctl-runtime AS lbctl-aws
COPY --from=venv-aws /opt/venv /opt/venv

FROM lbctl-runtime AS lbctl-all
COPY --from=venv-all /opt/venv /opt/venv

FROM lbctl-runtime AS lbctl
COPY --from=venv-core /opt/venv /opt/venv
