# Image for running lbctl in a cluster (deploy/lbctl.yaml). Not used by the
# tests: the local cluster runs lbctl as a process on the host.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lbctl ./lbctl
COPY nodeproxy ./nodeproxy
COPY conformance ./conformance
RUN pip install --no-cache-dir .
USER 65532
ENTRYPOINT ["lbctl"]
