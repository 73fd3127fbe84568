"""Starting and stopping the processes of a loopback deployment: free ports, waiting for a port
to answer, and an S3-compatible stand-in (moto's standalone server) for object storage."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None,
                  what: str = "server", log: Path | None = None) -> None:
    """Return once something accepts connections on host:port; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}" + _tail(log))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # waiting on another process to start, not on time
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s" + _tail(log))


def wait_for_http(url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None,
                  what: str = "server", log: Path | None = None, ok: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}" + _tail(log))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok:
                    return
                last = response.status
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.1)  # waiting on another process to start, not on time
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s (last: {last})" + _tail(log))


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- " + log.name + " ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Managed:
    """One child process with its log file; stopped with SIGTERM, then SIGKILL."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        return int(self.process.returncode)

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


def spawn(name: str, command: list[str], *, env: dict[str, str], log_dir: Path,
          cwd: Path = REPO_ROOT) -> Managed:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    handle = open(log, "ab")  # noqa: SIM115 - closed by Managed.stop
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    return Managed(name=name, process=process, log=log, handle=handle)


def start_s3_server(log_dir: Path, *, port: int | None = None, host: str = "127.0.0.1",
                    timeout: float = 60.0) -> tuple[Managed, str]:
    """moto's standalone S3-compatible server in its own process; returns it and its URL."""
    port = port or free_port(host)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = spawn("s3", [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], env=env,
                   log_dir=log_dir)
    url = f"http://{host}:{port}"
    try:
        wait_for_http(url + "/moto-api/", timeout=timeout, process=server.process, what="the S3 stand-in",
                      log=server.log)
    except BaseException:
        server.stop()
        raise
    return server, url


def make_bucket(endpoint_url: str, bucket: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1",
                          aws_access_key_id="hotline", aws_secret_access_key="hotline-secret")
    client.create_bucket(Bucket=bucket)
