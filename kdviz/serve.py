"""Start the Streamlit app as a child process: for `kdviz app`, benchmarks, screenshots and tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kdviz.i18n import _

APP = Path(__file__).resolve().parent.parent / "app.py"


def app_command(*streamlit_args: str) -> list[str]:
    if not APP.exists():
        raise ValueError(
            _("app.py not found next to the kdviz package ({path}); run from a clone").format(path=APP)
        )
    return [sys.executable, "-m", "streamlit", "run", str(APP), *streamlit_args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict | None = None, timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """The app on a free local port, headless: yields (URL, server pid) once it answers; stops it after."""
    port = free_port()
    args = ("--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true")
    # Run from the app's folder so Streamlit reads its .streamlit/config.toml.
    proc = subprocess.Popen(
        app_command(*args), cwd=APP.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, timeout)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Until `url`/_stcore/health answers (a Streamlit app, or a load balancer in front of some);
    RuntimeError if `proc` exits first or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(_("the Streamlit app did not start on {url}").format(url=url)) from None
            time.sleep(0.25)
