# syntax=docker/dockerfile:1
# The TierGate image: one image runs `tiergate operator` and `tiergate gateway`.
#   make image   builds the default target `runtime` (ENTRYPOINT tiergate) as tiergate:dev, which
#                leaves out the development packages (tiergate_sim, tiergate_demo), and the target
#                `sim` (ENTRYPOINT tiergate sim) as tiergate-sim:dev, which has them and which the
#                operator can run in place of vLLM on clusters without GPUs.
# Runs as uid/gid 10001, needs no writable path but /tmp (an emptyDir in the chart), so it works
# with readOnlyRootFilesystem. Dependencies come from constraints.txt (exact versions, generated
# by scripts/lock_runtime.py from the environment the tests ran in).
ARG PYTHON_IMAGE=python:3.12-slim

# ---- build: a virtualenv with the locked dependencies, then TierGate itself ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/tiergate
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY constraints.txt ./
RUN /opt/tiergate/bin/pip install --requirement constraints.txt
COPY pyproject.toml README.md ./
COPY crds ./crds
COPY operator ./operator
COPY gateway ./gateway
COPY cli ./cli
COPY sim ./sim
# --no-deps: everything TierGate needs is already installed, pinned; pip check proves it is complete.
RUN /opt/tiergate/bin/pip install --no-deps --constraint constraints.txt . \
 && /opt/tiergate/bin/pip check \
 && /opt/tiergate/bin/tiergate --version
# The product's copy of the environment: the same, without the simulator and the demo (the console
# script then simply does not offer `sim` and `demo`). Built at /opt/tiergate-product, copied to
# /opt/tiergate in the runtime stage, so the scripts' shebangs stay right.
RUN cp -a /opt/tiergate /opt/tiergate-product \
 && site=$(/opt/tiergate/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && rm -rf "/opt/tiergate-product${site#/opt/tiergate}/tiergate_sim" "/opt/tiergate-product${site#/opt/tiergate}/tiergate_demo" \
 && /opt/tiergate-product/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("tiergate_sim") is not None or u.find_spec("tiergate_gateway") is None)'

# ---- runtime: the virtualenv on a clean base, a non-root user, no build tools ----
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="tiergate" \
      org.opencontainers.image.description="TierGate: operator, gateway and simulator for routed LLM inference" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/tiergate/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 tiergate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin tiergate
COPY --from=build /opt/tiergate-product /opt/tiergate
USER 10001:10001
WORKDIR /tmp
# 8080 gateway, 8081 operator liveness, 9090 operator metrics, 8000 simulator. The gateway and the
# simulator bind 127.0.0.1 unless given --host 0.0.0.0, as the chart and the operator give it:
#   docker run -p 8080:8080 tiergate:dev gateway --host 0.0.0.0 ...
EXPOSE 8080 8081 9090 8000
ENTRYPOINT ["tiergate"]
CMD ["--help"]

# ---- sim: the same image whose entrypoint takes vLLM's flags, as the vLLM image's does ----
# The operator passes a ModelTier's vLLM flags as the container's args (no command), so with
# spec.vllm.image set to this image the pod runs `tiergate sim --model ... --port 8000 ...`.
FROM runtime AS sim
COPY --from=build /opt/tiergate /opt/tiergate
ENTRYPOINT ["tiergate", "sim"]
CMD []

# ---- the default target of a plain `docker build .` ----
FROM runtime
