# One image for the API, the dashboard, the workers and the migration job of
# docker-compose.yml. The PyPI torch wheel brings its CUDA libraries: the same image runs
# on CPU and, in the worker service, on an NVIDIA GPU.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MIXSCOPE_STORE=/data OMP_NUM_THREADS=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY trainer ./trainer
COPY dashboard ./dashboard
COPY mixscope ./mixscope
RUN pip install ".[postgres,s3]"

# An unprivileged user: Celery refuses to be comfortable as root, and nothing here needs it.
RUN useradd --create-home --uid 1000 mixscope && mkdir -p /data && chown mixscope /data
USER mixscope
VOLUME ["/data"]
EXPOSE 8000 8050
CMD ["mixscope", "--help"]
