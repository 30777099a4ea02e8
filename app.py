"""Loads the search bundle once, builds the Gradio app and launches it. Nothing else."""
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
    from backend.search.service import SearchService

    try:
        service = SearchService.from_bundle(args.bundle)
    except BundleError as exc:
        print(f"error: cannot load the search bundle at {args.bundle!r}:\n  {exc}", file=sys.stderr)
        return 2

    import ui

    demo = ui.build(service)
    demo.queue(default_concurrency_limit=2, max_size=64)  # CPU-bound search: two at a time, the rest wait in line
    demo.launch(server_name=args.host, server_port=args.port, **ui.launch_kwargs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
