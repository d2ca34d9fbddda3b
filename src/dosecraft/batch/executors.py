"""Where the work runs: inline, in a local process pool (the default), or on a Dask cluster.

Every executor maps a module-level function over chunks of work and yields each chunk's
result as soon as it is done, in completion order; the runner puts results back in input
order. The functions never raise for a bad prescription (see `dosecraft.batch.work`), so
an exception out of an executor means the machinery itself failed (a worker process was
killed, the scheduler went away): the batch stops, and re-running it finishes the work.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from dosecraft.batch.work import die_with_parent
from dosecraft.errors import DosecraftError

#: Modules the fork server imports once, so each pool worker starts warm.
_PRELOAD = ["dosecraft.batch.work", "dosecraft.batch.plates"]


class ExecutorError(DosecraftError):
    """The machinery that runs the work failed (not a prescription); re-run to resume."""


#: A Dask scheduler address: protocol, host (name, IPv4 or [IPv6]) and port.
_SCHEDULER = re.compile(r"(tcp|tls|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")
#: How long to wait for a scheduler that does not answer (Dask's own default is 30 s).
CONNECT_TIMEOUT_S = 10


def check_dask_address(address: str) -> str:
    """`address` if it is ``"local"`` or a scheduler address such as ``tcp://host:8786``.

    Checked before a batch starts, so a typo is an error message, not a half-started run.

    Raises
    ------
    ExecutorError
        Naming the address and the forms that work.
    """
    match = _SCHEDULER.fullmatch(address)
    if address == "local" or (match and 0 < int(match.group(3)) < 65536):
        return address
    raise ExecutorError(f"--dask {address!r} is not a Dask address: use 'local' (a cluster on "
                        "this machine) or a scheduler address such as tcp://HOST:8786")


class Executor(Protocol):
    """Runs ``fn(chunk, *args)`` for each chunk; yields the results as they complete."""

    description: str

    def map_unordered(self, fn: Callable[..., Any], chunks: Sequence[Any],
                      *args: Any) -> Iterator[Any]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs everything in this process: one worker, no start-up cost, simplest to debug."""

    description = "in-process"

    def map_unordered(self, fn: Callable[..., Any], chunks: Sequence[Any],
                      *args: Any) -> Iterator[Any]:
        for chunk in chunks:
            yield fn(chunk, *args)

    def close(self) -> None:
        pass


class PoolExecutor:
    """A local process pool.

    Workers come from a fork server (fresh processes that inherit no locks, threads or
    open files of the CLI; Python's preferred start method from 3.14) and are tied to their
    parent with `die_with_parent`, so killing the batch kills its workers too.
    """

    def __init__(self, workers: int) -> None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(_PRELOAD)
        self.workers = workers
        self.description = f"{workers} local worker processes"
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                         initializer=die_with_parent)

    def map_unordered(self, fn: Callable[..., Any], chunks: Sequence[Any],
                      *args: Any) -> Iterator[Any]:
        futures = [self._pool.submit(fn, chunk, *args) for chunk in chunks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool as exc:
            raise ExecutorError("a worker process died (out of memory, or killed); the "
                                "finished prescriptions are kept — run the same command "
                                "again to complete the batch") from exc
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """A Dask cluster: ``"local"`` starts a `distributed.LocalCluster` (processes, one
    thread each, no dashboard); any other address (``tcp://host:8786``) connects to a
    running scheduler, whose workers must have dosecraft installed and see the output
    folder at the same path."""

    def __init__(self, address: str, workers: int) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ExecutorError("--dask needs the 'distributed' package: "
                                "pip install 'dosecraft[dist]'") from exc
        self._cluster = None
        try:
            if address == "local":
                # One thread per worker: the pipeline is CPU-bound Python and numpy, so
                # threads would only contend for the GIL.
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None,
                                             silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
                self.description = f"Dask LocalCluster, {workers} worker processes"
            else:
                self._client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
                n = len(self._client.scheduler_info().get("workers", {}))
                self.description = f"Dask scheduler {address}, {n} workers"
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise ExecutorError(f"cannot reach the Dask scheduler {address!r}: {exc}") from exc

    def map_unordered(self, fn: Callable[..., Any], chunks: Sequence[Any],
                      *args: Any) -> Iterator[Any]:
        from distributed import as_completed as dask_completed

        # pure=False: equal chunks of two runs are separate work, never a cached result
        futures = [self._client.submit(fn, chunk, *args, pure=False) for chunk in chunks]
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: int, dask: str | None = None) -> Executor:
    """The executor for the CLI options: Dask when `dask` is given, else a process pool
    for more than one worker, else inline."""
    if dask:
        return DaskExecutor(check_dask_address(dask), max(1, workers))
    if workers > 1:
        return PoolExecutor(workers)
    return InlineExecutor()
