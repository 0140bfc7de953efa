# seismowatch: one image for the worker, the topic job and the replay job.
# Slim Python, CPU-only torch (the default wheel pulls several GB of CUDA), non-root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/seismowatch
# its own layer: it is the largest and changes least
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY config ./config
COPY daemon ./daemon
COPY replay ./replay
COPY stream_models ./stream_models
RUN pip install . && python -c "import torch, faust, river; print('torch', torch.__version__)"

RUN useradd --system --uid 10001 --home-dir /var/lib/seismowatch --create-home seismowatch
USER seismowatch
# the state directory is a volume; metrics listen on all interfaces inside the
# container network only (compose publishes no worker port)
ENV SEISMOWATCH_STATE_DIR=/var/lib/seismowatch \
    SEISMOWATCH_METRICS_HOST=0.0.0.0 \
    SEISMOWATCH_METRICS_PORT=9108
VOLUME ["/var/lib/seismowatch"]
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/metrics', timeout=4)"]
ENTRYPOINT ["seismowatch"]
CMD ["worker"]
