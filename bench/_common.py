"""What the server benchmarks share: free loopback ports and waiting for a server."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until the server answers at all (an HTTP error is an answer), or it exits."""
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode})") from None
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}")
