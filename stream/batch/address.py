"""``--ray-address`` checked before Ray starts: its form, that a head answers there, and that it takes our token.

``ray.init`` meets each of these failures slowly and in its own words: an unreachable head is
retried for minutes, a head that wants a token this machine does not give prints a
``gcs_client ... InvalidAuthToken`` line a second for twenty seconds and then says it cannot
connect, and ``ray://`` without the Ray Client package is a traceback. Asked here once, with
Ray's own GCS client and a short timeout, each is one line naming the fix in a second or two.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from stream.core.errors import ConfigError

HEAD_PORT = 6379  # `ray start --head`'s default GCS port: what HOST:PORT names
ANSWER_SECONDS = 5.0
TOKEN_FIX = ("give this command the cluster's token: RAY_AUTH_MODE=token and the token in RAY_AUTH_TOKEN (or the file "
             "~/.ray/auth_token, or RAY_AUTH_TOKEN_PATH); `ray get-auth-token` on the head prints it")


def check_address(address: str) -> None:
    """Refuse an address Ray would not join: a malformed one, one where nothing answers, one whose head wants a token."""
    if address == "auto":
        return  # Ray looks on this machine, says at once when nothing runs, and finds the local token itself
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or "://" in host:
        raise ConfigError(f"--ray-address {address} is not auto, HOST:PORT or ray://HOST:PORT; e.g. --ray-address "
                          f"head:{HEAD_PORT} (the address `ray start --head` prints)")
    if client:
        check_client_installed(address)
    try:
        socket.create_connection((host, int(port)), timeout=ANSWER_SECONDS).close()
    except OSError as exc:
        raise ConfigError(f"no Ray cluster answers at --ray-address {address} ({exc.strerror or exc}); "
                          "start one with `ray start --head` there, or leave out --ray-address") from None
    if not client:
        check_head(address)


def check_client_installed(address: str) -> None:
    """``ray://`` is Ray Client: a separate package (grpcio) here and a client server on the head."""
    if importlib.util.find_spec("grpc") is None:  # Ray Client's transport: without it ray.init("ray://...") is an ImportError
        raise ConfigError(f"--ray-address {address} needs Ray Client, which is not installed here (pip install 'ray[client]'); "
                          f"or give the head's own address, HOST:PORT ({HEAD_PORT} unless `ray start --head` was given "
                          "another --port), from a machine that reaches the cluster's nodes")


def check_head(address: str) -> None:
    """A GCS answers at ``address`` and accepts this process's token (none unless RAY_AUTH_MODE=token)."""
    from ray._raylet import InnerGcsClient  # type: ignore[attr-defined]  # Ray's own GCS client, the one ray.init uses
    from ray.exceptions import AuthenticationError, RayError

    with stderr_silenced():  # its C++ side prints a warning line per failed attempt; the error below says it once
        try:
            InnerGcsClient.standalone(address, None, int(ANSWER_SECONDS * 1000))
        except AuthenticationError:
            given = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
            problem = "refused the token this command gave" if given else "wants a token (token authentication is on there)"
            raise ConfigError(f"the Ray cluster at --ray-address {address} {problem}; {TOKEN_FIX}") from None
        except RayError as exc:
            raise ConfigError(f"nothing at --ray-address {address} answers as a Ray head ({str(exc).strip()[:120]}); give the "
                              f"address `ray start --head` printed (port {HEAD_PORT} unless it was given another --port)") from None


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to /dev/null for a moment: native libraries write there, below Python's ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
