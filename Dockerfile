# Draft image for compose.yaml; the issue "Run it for real" makes it multi-stage.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 pdfline && mkdir /data && chown pdfline /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY api ./api
RUN pip install --no-cache-dir .
USER pdfline
ENV PDFLINE_DATA_DIR=/data
EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
