"""The batch on Ray: actors started once, each kept busy with one file at a time, results gathered as they end.

The driver hands the next file to whichever actor is free, asks the busy ones for their
progress a few times a second, records every finished file in the manifest at once (so a
kill loses at most the files in hand), and on SIGINT/SIGTERM kills the actors, removes the
hidden folders of the files in hand and reports the rest as not run. An actor that dies
(a crash inside a native library) fails only its file and is replaced.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.batch.actor import DepthWorker
from stream.batch.cluster import Sizing
from stream.batch.jobs import Job
from stream.batch.partial import discard, workdir_for
from stream.batch.progress import BatchProgress
from stream.batch.summary import FileResult
from stream.config.settings import Settings
from stream.core.errors import DepthStreamError, ModelError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
KILL_WAIT_SECONDS = 5.0


class ActorStartError(DepthStreamError):
    """An actor could not load the model: nothing can run (the message is the model's own error)."""


@dataclass
class Running:
    actor: Any
    job: Job
    workdir: Path


@dataclass
class Scheduler:
    """Files to actors, one at a time each, until every file has a result or ``stop`` is set."""

    settings: Settings
    sizing: Sizing
    stop: threading.Event
    progress: BatchProgress
    on_result: Callable[[Job, FileResult], None]
    actors: list[Any] = field(default_factory=list)
    running: dict[Any, Running] = field(default_factory=dict)  # object ref -> what it is
    nodes: dict[Any, tuple[str, str | None]] = field(default_factory=dict)  # actor -> (host, node id), once it said

    def start_actors(self) -> None:
        """Create the actors and wait until each has its model (or say why one could not load it)."""
        import ray

        self.actors = [self._new_actor() for _ in range(self.sizing.actors)]
        asked = {actor.ready.remote(): actor for actor in self.actors}
        pending = list(asked)
        while pending and not self.stop.is_set():
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
            for ref in done:
                node, error, code = ray.get(ref)
                self.nodes[asked[ref]] = node
                if error is not None:
                    raise (ModelError if code == 2 else ActorStartError)(f"on {node[0]}: {error}")

    def _new_actor(self) -> Any:
        import ray

        remote = ray.remote(DepthWorker).options(num_cpus=self.sizing.cpus, max_concurrency=2, max_restarts=0)
        return remote.remote(self.settings)

    def run(self, jobs: list[Job]) -> list[Job]:
        """Process ``jobs``; returns the ones never finished (stopped first)."""
        import ray

        queue, idle = deque(jobs), list(self.actors)
        while (queue or self.running) and not self.stop.is_set():
            while idle and queue:
                job = queue.popleft()
                actor = idle.pop()
                workdir = workdir_for(job.output)
                self.running[actor.process.remote(job, workdir)] = Running(actor, job, workdir)
            done, _ = ray.wait(list(self.running), num_returns=1, timeout=POLL_SECONDS)
            for ref in done:
                idle.append(self._finish(ref))
            self._poll_progress()
        unfinished = [item.job for item in self.running.values()] + list(queue)
        return unfinished

    def _finish(self, ref: Any) -> Any:
        """Record one ended call; returns the actor to give the next file (a new one if it died)."""
        import ray

        item = self.running.pop(ref)
        try:
            result: FileResult = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            discard(item.workdir)
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            host, node_id = self.nodes.get(item.actor, (None, None))
            result = FileResult(item.job.key, "failed", error=f"the worker died while processing it ({message})",
                                node=host, node_id=node_id)
            item.actor = self._new_actor()
            self.actors.append(item.actor)
        self.progress.finished(item.job.key, result.frames)
        self.on_result(item.job, result)
        return item.actor

    def _poll_progress(self) -> None:
        import ray

        refs = [item.actor.progress.remote() for item in self.running.values()]
        if not refs:
            return
        try:
            answers = ray.get(refs, timeout=2.0)
        except (ray.exceptions.RayError, TimeoutError):
            return  # a dying actor: its file's result says what happened
        for answer in answers:
            if answer is not None:
                self.progress.running(*answer)

    def abandon(self) -> None:
        """Stop at once: kill every actor (their calls end mid-file) and remove the hidden folders of the files in hand."""
        import ray

        for actor in self.actors + [item.actor for item in self.running.values()]:
            try:
                ray.kill(actor)
            except Exception as exc:  # noqa: BLE001 - Ray itself may be going down (Ctrl-C reached it too)
                log.debug("could not kill an actor: %s", exc)
        if self.running:  # a killed call ends with an error once its process is gone: only then is its folder still
            try:
                ray.wait(list(self.running), num_returns=len(self.running), timeout=KILL_WAIT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - as above
                log.debug("could not wait for the killed actors: %s", exc)
        for item in self.running.values():
            discard(item.workdir)
        self.running.clear()
