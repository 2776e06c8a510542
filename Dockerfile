# Shotline: API server, worker and CLI in one image.
#   CPU (default; the tiny engine, or a CPU-only API tier):  docker build -t shotline .
#   CUDA (workers on NVIDIA GPUs):  docker build -t shotline:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130 .
# The CUDA variant installs the CUDA build of torch==2.13.0 from PyTorch's index before Shotline, so pip
# keeps it; the driver comes from the host (NVIDIA Container Toolkit). Weights are never baked in: mount
# them and point SHOTLINE_MODEL at them (docs/engines/).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG EXTRAS=engines,scale
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/shotline
ENV PATH=/opt/shotline/bin:$PATH
# torch first, from the index that picks CPU or CUDA; the same version the `engines` extra pins.
RUN pip install torch==2.13.0 --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install "/src[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
# libgomp: torch's CPU threads. Nothing else: PyAV wheels carry their own FFmpeg. Its version follows the
# Debian release the image tag pins (bookworm), hence no apt pin.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 shotline
COPY --from=build /opt/shotline /opt/shotline
ENV PATH=/opt/shotline/bin:$PATH \
    SHOTLINE_DATA_DIR=/data \
    SHOTLINE_HOST=0.0.0.0 \
    SHOTLINE_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown shotline:shotline /data
USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["shotline"]
CMD ["serve"]
