# Build: the locked dependencies and pdfline into a virtualenv. Run: that virtualenv, as a non-root user.
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/venv
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY pipeline ./pipeline
COPY api ./api
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 pdfline && mkdir /data && chown pdfline /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PDFLINE_DATA_DIR=/data dramatiq_prom_db=/tmp/dramatiq-prometheus
USER pdfline
WORKDIR /home/pdfline
EXPOSE 8000 9191
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
