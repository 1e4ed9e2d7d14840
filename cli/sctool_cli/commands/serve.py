"""sctool serve INDEX [--port 8000]"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page to paste code and see its training-data sources",
        description="Serve one page on 127.0.0.1 where pasted code is attributed: windows found in the "
        "corpus are highlighted with their source documents, plus full-text search hits when INDEX was "
        "built with --search. Only this machine can reach it.",
    )
    p.add_argument("index", metavar="INDEX", help="directory made by `sctool index build`")
    p.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (default 8000; 0 = any free)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.attribution.server import make_server

    server = make_server(args.index, args.port)
    host, port = server.server_address[:2]
    print(f"sctool serve: http://{host}:{port}/  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
