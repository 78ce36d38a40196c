"""A real HTTP server on 127.0.0.1 that serves the genuine files, and misbehaves on request.

Routes (``<mode>/<folder>/<file>``):
``good``     the file; ``slow`` the file, in small delayed chunks;
``broken``   HTTP 500; ``html`` a 200 OK HTML error page;
``cut``      announces the full length, sends half, then drops the connection.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.datafiles import HTML_PAGE


class MirrorServer:
    def __init__(self, root: Path, extra: dict[str, bytes] | None = None):
        self.root = root
        self.extra = extra or {}  # path -> bytes served under /good/<path>
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                mode, _, rel = self.path.lstrip("/").partition("/")
                server.hits[self.path] += 1
                if mode == "broken":
                    return self.send_error(500, "mirror is down")
                if mode == "html":
                    return self._send(HTML_PAGE, content_type="text/html")
                body = server.extra.get(rel)
                if body is None:
                    path = server.root / rel
                    if not path.is_file():
                        return self.send_error(404)
                    body = path.read_bytes()
                if mode == "cut":
                    return self._send(body, cut=True)
                if mode == "slow":
                    return self._send(body, delay=True)
                return self._send(body)

            def _send(self, body, content_type="application/octet-stream", cut=False, delay=False):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                payload = body[: len(body) // 2] if cut else body
                step = max(len(payload) // 20, 1) if delay else len(payload) or 1
                for start in range(0, len(payload), step):
                    self.wfile.write(payload[start:start + step])
                    if delay:
                        time.sleep(0.05)
                if cut:
                    self.wfile.flush()
                    self.connection.shutdown(2)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mode}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
