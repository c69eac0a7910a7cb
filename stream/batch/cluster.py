"""Ray for the batch: start a local instance or join a cluster, and size the actors from its cores.

Locally Ray gets this machine's cores and no dashboard; ``--ray-address`` joins a running
cluster instead (``auto``: the one started on this machine with ``ray start``; ``HOST:PORT``:
a head's GCS; ``ray://HOST:PORT``: a head's Ray Client server), checked first by ``address``.
If Ray is already initialised in this process (a test session, a notebook) it is used as it
is and left running. Joining a cluster, the model cache variable is passed on to the workers
(local ones inherit it).

Ray's own console output is ours to configure: its driver-side logger says only errors (its
notes, such as "Token authentication is enabled", are for people running Ray, not this
command's users), and the workers' output stays in Ray's log files
(``/tmp/ray/session_latest/logs`` on each node) instead of being copied to the console.
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stream.core.errors import ConfigError

OBJECT_STORE_BYTES = 128 * 1024 * 1024  # results are a few hundred bytes each: the store holds nothing big
CORES_PER_ACTOR = 1  # single-threaded actors keep every core busy through decode, encode and the gaps (bench_batch: 1.3x two threads in one)


@dataclass(frozen=True)
class Sizing:
    """How many actors, how many inference threads each, and how many Ray CPUs each reserves."""

    actors: int
    threads: int
    cpus: float


def size_actors(cores: float, actors: int | None, threads: int | None) -> Sizing:
    """Defaults: one single-threaded actor per core (at least one), as the app runs a file; given values are kept."""
    whole = max(1, int(cores))
    if actors is None:
        actors = max(1, whole // (threads or CORES_PER_ACTOR))
    if threads is None:
        threads = max(1, whole // actors)
    cpus = min(float(threads), cores / actors) if cores > 0 else float(threads)
    return Sizing(actors, threads, max(0.01, math.floor(cpus * 100) / 100))


def worker_env() -> dict[str, str]:
    """Variables the workers need to find what this machine has cached."""
    from stream.core.cache import CACHE_ENV

    return {CACHE_ENV: os.environ[CACHE_ENV]} if os.environ.get(CACHE_ENV) else {}


@contextmanager
def ray_session(address: str | None, cores: int) -> Iterator[float]:
    """Ray running for the batch; yields the CPUs it offers. Shut down on the way out if started here."""
    import ray

    if ray.is_initialized():
        yield float(ray.cluster_resources().get("CPU", cores))
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    # Ray's processes inherit an ignored SIGINT: Ctrl-C in a terminal reaches the whole process group,
    # and the batch (not Ray's daemons) decides how to stop
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if address:  # local workers inherit this environment; a cluster's are given what they need
            ray.init(address=address, runtime_env={"env_vars": worker_env()}, **options)
        else:
            ray.init(address="local", num_cpus=cores, object_store_memory=OBJECT_STORE_BYTES, **options)  # never a cluster found by chance
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"--ray-address {address}" if address else "a local Ray instance"
        raise ConfigError(f"cannot start or join {where} ({str(exc).strip().splitlines()[0][:160]}); "
                          "start one with `ray start --head` or leave out --ray-address") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        yield float(ray.cluster_resources().get("CPU", cores))
    finally:
        ray.shutdown()
