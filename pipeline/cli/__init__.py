"""The ``pdfline`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pdfline", description="PDFs in, searchable embeddings out.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run Redis (if not configured), the workers, the scheduler and the API locally")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="parsing worker processes")
    up.add_argument("--threads", type=int, help="threads per parsing worker process (default 2)")
    up.add_argument(
        "--vector-threads",
        type=int,
        help="threads of the worker process that embeds and stores (default: the embedding concurrency + 2)",
    )

    upload = commands.add_parser("upload", help="upload PDFs and wait for each to finish")
    upload.add_argument("files", nargs="+", type=Path)
    upload.add_argument("--api", default=os.environ.get("PDFLINE_API_URL", "http://127.0.0.1:8000"))
    upload.add_argument("--reprocess", action="store_true", help="process again even if already stored")
    upload.add_argument("--watch", action="store_true", help="show a live progress bar per file")
    upload.add_argument("--priority", choices=("high", "normal", "low"), default="normal")
    upload.add_argument(
        "--api-key", default=os.environ.get("PDFLINE_API_KEY"), help="when the API requires one (PDFLINE_API_KEY)"
    )

    search = commands.add_parser("search", help="the stored chunks nearest in meaning to a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many hits (1-100)")
    search.add_argument("--document", help="only this document's chunks")
    search.add_argument("--api", default=os.environ.get("PDFLINE_API_URL", "http://127.0.0.1:8000"))
    search.add_argument("--api-key", default=os.environ.get("PDFLINE_API_KEY"))

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or migrate the schema")

    commands.add_parser("cleanup", help="run the cleanup job once, now")
    commands.add_parser("recover", help="run the recovery job once, now")

    args = parser.parse_args(argv)
    if args.command == "up":
        from pipeline.cli.up import run_up

        return run_up(args.host, args.port, args.processes, args.threads, args.vector_threads)
    if args.command == "upload":
        from pipeline.cli.api_target import ApiTarget
        from pipeline.cli.upload import run_upload

        api = ApiTarget(args.api.rstrip("/"), args.api_key)
        return run_upload(api, args.files, reprocess=args.reprocess, watch=args.watch, priority=args.priority)
    if args.command == "search":
        from pipeline.cli.api_target import ApiTarget
        from pipeline.cli.search import run_search

        api = ApiTarget(args.api.rstrip("/"), args.api_key)
        return run_search(api, args.query, k=args.k, document_id=args.document)
    if args.command in ("cleanup", "recover"):
        import json

        from pipeline.broker import build_context
        from pipeline.jobs import run_job
        from pipeline.jobs.cleanup import run_cleanup
        from pipeline.jobs.recovery import run_recovery
        from pipeline.logs import configure_logging
        from pipeline.settings import Settings

        settings = Settings()
        configure_logging(settings)
        ctx = build_context(settings)
        job = run_cleanup if args.command == "cleanup" else run_recovery
        name = "cleanup" if args.command == "cleanup" else "recovery"
        print(json.dumps(run_job(ctx, name, job)))
        return 0
    if args.command == "db":
        from pipeline.db import create_db_engine
        from pipeline.embedders import build_embedder
        from pipeline.schema import ensure_vector_index, head_revision
        from pipeline.schema import upgrade as upgrade_schema
        from pipeline.settings import Settings

        settings = Settings()
        engine = create_db_engine(settings)
        upgrade_schema(engine)
        dimensions = build_embedder(settings).dimensions
        if dimensions and ensure_vector_index(engine, dimensions):
            print(f"HNSW index for {dimensions}-dimensional vectors is in place")
        print(f"schema is at revision {head_revision()}")
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
