# Two stages. The first installs the dependencies into a virtual environment (compilers,
# were any needed, stay there) and builds the project's wheel; the second copies the
# environment and installs the wheel: no build tools, no wheels, no caches.
# The dependencies are installed before the source is copied, so a code change rebuilds
# in seconds: only the last layers change.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
# the dependencies alone: pyproject.toml with empty packages, installed, then the stub
# removed. In a directory of its own: setuptools' build/ of the stub must not reach the
# real wheel (its empty, newer __init__.py files would be kept)
WORKDIR /deps
COPY pyproject.toml ./
RUN mkdir -p model_core service \
    && touch README.md model_core/__init__.py service/__init__.py \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/pip uninstall --yes catvnoncat
# then the project itself, as a wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model_core ./model_core
COPY service ./service
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CATSVC_HOST=0.0.0.0 CATSVC_PORT=8000 \
    CATSVC_DATA_DIR=/var/lib/catvnoncat CATSVC_DATASETS_DIR=/data
# a user without a login or a home; the data directory is the only place it writes
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/catvnoncat /data \
    && chown app:app /var/lib/catvnoncat
COPY --from=build /opt/venv /opt/venv
COPY --from=build /wheels /wheels
RUN pip install --no-index --no-deps /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/catvnoncat
# models, job records and uploaded data sets; compose mounts a named volume here
VOLUME ["/var/lib/catvnoncat"]
EXPOSE 8000
# liveness here: a fresh container trains its first model before it is ready, which
# compose's healthcheck waits for (it asks /health/ready)
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
STOPSIGNAL SIGTERM
# exec form: the supervisor is PID 1 and gets SIGTERM itself (readiness 503, requests in
# flight finish, the running job is recorded cancelled); it reaps orphans as PID 1 must
CMD ["python", "-m", "service"]
