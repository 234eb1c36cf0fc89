# The msi-sync image: one image for every role (workers, beat, Flower, the CLI, the demo simulators);
# docker-compose.yml picks the role with the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid so that files in named volumes keep one owner across image rebuilds.
RUN useradd --create-home --uid 10001 --user-group msi

WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
COPY models ./models
COPY clients ./clients
COPY simulators ./simulators
COPY pipeline ./pipeline
COPY ops ./ops
COPY cli ./cli
RUN pip install . \
    # Named volumes start as a copy of these folders: the beat schedule and the demo's CA.
    && mkdir -p /var/lib/msi-sync/beat /var/lib/msi-sync/demo-ca \
    && chown -R msi:msi /var/lib/msi-sync

USER msi
EXPOSE 5555
# Every service names its own command: `msi-sync ...` or `celery -A worker ...`.
CMD ["msi-sync", "--help"]
