"""Start a real Label Studio server on 127.0.0.1 (for the sync tests and the docs' screenshots)."""

import contextlib
import os
import socket
import subprocess
import threading
import time
import urllib.request

#: the legacy API token and login of the server's only user
TOKEN = "5ca1ab1e" * 5
USER, PASSWORD = "skralif@example.com", "skralif-test-password"


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def label_studio(exe, folder, timeout=240):
    """Run ``exe start`` with its data in ``folder``; yield its URL once ``/health`` answers.

    Offline, a legacy API token (:data:`TOKEN`) for the user :data:`USER`; the server's
    log is ``folder/server.log``. Raises RuntimeError with the log's end if it does not
    start within ``timeout`` seconds.
    """
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "LABEL_STUDIO_USERNAME": USER, "LABEL_STUDIO_PASSWORD": PASSWORD,
           "LABEL_STUDIO_USER_TOKEN": TOKEN, "LABEL_STUDIO_BASE_DATA_DIR": str(folder),
           "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
           # a model backend on this machine (127.0.0.1): Label Studio blocks local
           # addresses for models and webhooks unless told otherwise
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}
    url = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "w") as log:
        proc = subprocess.Popen([str(exe), "start", "--no-browser", "--port", str(port),
                                 "--internal-host", "127.0.0.1"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Label Studio did not start:\n"
                                       + (folder / "server.log").read_text()[-3000:])
                time.sleep(1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def serving(backend, port=None):
    """Serve ``backend`` with uvicorn on 127.0.0.1 (a free port by default); yield its URL."""
    import uvicorn

    from skralif.labeling import make_app

    port = port or free_port()
    web = uvicorn.Server(uvicorn.Config(make_app(backend), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the backend did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        backend.wait(120)
        web.should_exit = True
        thread.join(30)
