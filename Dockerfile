# syntax=docker/dockerfile:1
# Two stages: wheels are built in the first, the second only installs them (no compilers,
# no build tools). Dependencies are built before the source is copied, so a code change
# rebuilds in seconds.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# the dependencies alone: pyproject.toml with empty packages
COPY pyproject.toml ./
RUN mkdir -p model_core service \
    && touch README.md model_core/__init__.py service/__init__.py \
    && pip wheel --wheel-dir /wheels/deps . \
    && rm /wheels/deps/catvnoncat-*.whl
# then the project itself
COPY README.md ./
COPY model_core ./model_core
COPY service ./service
RUN pip wheel --no-deps --wheel-dir /wheels/app .

FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    CATSVC_HOST=0.0.0.0 CATSVC_PORT=8000 \
    CATSVC_DATA_DIR=/var/lib/catvnoncat CATSVC_DATASETS_DIR=/data
RUN useradd --system --uid 10001 --user-group --no-create-home app \
    && mkdir -p /var/lib/catvnoncat /data \
    && chown app:app /var/lib/catvnoncat
COPY --from=build /wheels/deps /wheels/deps
RUN pip install --no-index --find-links /wheels/deps /wheels/deps/*.whl && rm -rf /wheels/deps
COPY --from=build /wheels/app /wheels/app
RUN pip install --no-index --no-deps /wheels/app/*.whl && rm -rf /wheels/app
USER 10001:10001
WORKDIR /var/lib/catvnoncat
VOLUME ["/var/lib/catvnoncat"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
# exec form: the server is PID 1's child-free main process and receives SIGTERM itself
CMD ["python", "-m", "service"]
