"""A fake Label Studio API on 127.0.0.1 that misbehaves on purpose (faults only).

Behaviour is tested against the real server (tests/test_labelstudio.py); this one serves
the few endpoints ``labelstudio sync`` calls, with answers a test chooses: malformed task
lists, annotations of the wrong shape, a page that never ends, error bodies that echo the
request's headers. It records every request so a test can count them.
"""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CONFIG = ('<View><Table name="table" value="$x"/><Choices name="label" toName="table">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')


def task(i, label=None, x=None):
    """A task with a numeric field ``x`` and, if ``label``, one completed annotation."""
    annotations = [] if label is None else [{
        "id": 1000 + i, "was_cancelled": False, "updated_at": "2026-01-01T00:00:00Z",
        "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                    "value": {"choices": [label]}}]}]
    return {"id": i, "data": {"x": float(i % 7) if x is None else x, "y": float(i % 3)},
            "annotations": annotations, "predictions": []}


class FakeLabelStudio:
    """Serves a project whose tasks page is ``tasks_page(page, page_size)`` (a JSON-able
    object), and whose other endpoints answer ``errors.get(path)`` when set."""

    def __init__(self, tasks, task_number=None):
        self.tasks = tasks
        self.task_number = len(tasks) if task_number is None else task_number
        self.tasks_page = self.paginate
        self.errors = {}
        self.requests = []
        self.model_versions = {}

    def paginate(self, page, page_size):
        start = (page - 1) * page_size
        return {"tasks": self.tasks[start:start + page_size], "total": len(self.tasks)}

    def answer(self, method, path, query, headers):
        self.requests.append((method, path))
        if path in self.errors:
            return self.errors[path](headers)
        if method == "GET" and path.endswith("/model-versions/"):
            return 200, self.model_versions
        if method == "GET" and path.startswith("/api/projects/"):
            return 200, {"id": 1, "title": "fake", "label_config": CONFIG,
                         "task_number": self.task_number}
        if method == "GET" and path in ("/api/tasks", "/api/tasks/"):
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", ["100"])[0])
            return 200, self.tasks_page(page, size)
        if method in ("POST", "PATCH"):
            return 201, {"created": 0}
        if method == "DELETE":
            return 204, None
        return 404, {"detail": "not found"}


@contextlib.contextmanager
def serve(fake):
    """Run ``fake`` on a free port of 127.0.0.1; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, body = fake.answer(self.command, url.path, parse_qs(url.query),
                                       dict(self.headers))
            data = b"" if body is None else (body if isinstance(body, bytes)
                                            else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
