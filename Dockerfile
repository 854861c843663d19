# Two stages. The first installs the dependencies into a virtual environment (compilers,
# were any needed, stay there) and builds the project's wheel; the second copies the
# environment and installs the wheel: no build tools, no wheels, no caches.
# The dependencies come from the lock, exact versions with their hashes
# (requirements/runtime.txt, made by requirements/update from pyproject.toml's ranges),
# and are installed before anything else is copied: their layer is rebuilt only when the
# lock changes, and a code change or a pyproject.toml edit rebuilds in seconds.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
# then the project itself, as a wheel
COPY pyproject.toml README.md ./
COPY model_core ./model_core
COPY service ./service
# and a check that the lock holds what the wheel requires, in pyproject.toml's ranges
# (else: requirements/update); --no-index, so a missing package fails instead of coming in
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --quiet --dry-run --no-index /wheels/*.whl

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
