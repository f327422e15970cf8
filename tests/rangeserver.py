"""A file server on 127.0.0.1 that honours HTTP range requests (what GDAL's /vsicurl/ and /vsis3/ need), started
by the tests themselves; it records every request so a test can see that reads were partial."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Served:
    """The running server: its base URL and the requests it answered (method, path, Range header, status)."""

    url: str
    port: int
    root: Path
    requests: list[tuple[str, str, str | None, int]] = field(default_factory=list)


@contextmanager
def range_server(root: Path) -> Iterator[Served]:
    """Serve ``root`` on 127.0.0.1 (a free port) for the duration of the block."""
    served = Served("", 0, root)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _file(self) -> Path | None:
            rel = unquote(urlsplit(self.path).path).lstrip("/")
            path = (root / rel).resolve()
            if root.resolve() not in path.parents or not path.is_file():
                return None
            return path

        def _answer(self, body: bool) -> None:
            path = self._file()
            wanted = self.headers.get("Range")
            if path is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                served.requests.append((self.command, self.path, wanted, 404))
                return
            data = path.read_bytes()
            size = len(data)
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted or "")
            if match:
                start_text, end_text = match.groups()
                if start_text:
                    start = int(start_text)
                    end = min(int(end_text) if end_text else size - 1, size - 1)
                else:  # suffix range: the last N bytes
                    start, end = max(size - int(end_text), 0), size - 1
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    served.requests.append((self.command, self.path, wanted, 416))
                    return
                chunk = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                status = 206
            else:
                chunk = data
                self.send_response(200)
                status = 200
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if body:
                self.wfile.write(chunk)
            served.requests.append((self.command, self.path, wanted, status))

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    served.url = f"http://127.0.0.1:{served.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
