"""Loads the search bundle once, builds the web app (Gradio UI + REST routes on one FastAPI app) and serves it."""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Metaverse Search web app")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="interface to bind (env GRADIO_SERVER_NAME; default 127.0.0.1)")
    p.add_argument("--port", type=int,
                   default=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
                   help="port (env PORT or GRADIO_SERVER_PORT; default 7860)")
    p.add_argument("--bundle", default=os.environ.get("METAVERSE_BUNDLE", "precomputed/"),
                   help="bundle directory (env METAVERSE_BUNDLE; default precomputed/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from backend.data.bundle import BundleError
    from backend.service import SearchService

    try:
        from backend.grow.store import additions_enabled
        service = SearchService.from_bundle(args.bundle, additions=additions_enabled())
    except BundleError as exc:
        print(f"error: cannot load the search bundle at {args.bundle!r}:\n  {exc}", file=sys.stderr)
        return 2

    import uvicorn

    import ui

    app = ui.make_app(service)
    service.start_warming()          # after the UI's build: two threads importing plotly at once can deadlock
    print(f"* Metaverse Search on http://{args.host}:{args.port}/ (REST: /api/v1/docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
