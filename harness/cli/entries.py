"""The entry executor of ``dmct run``: its entries (DMC x installation status) on every core of
this machine, or as tasks of a Dask distributed cluster.

An entry is one pytest process of the packs (``harness.cli.child``) writing into its own
``<out>/<dmc>/<status>`` directory, so entries share nothing while they run and run in parallel
as they are. What ``dmct run`` does before and after the pytest process of an entry (its
header, its report formats, its totals line) is ``run.py``'s; this module only decides where
and how many at a time.

The units it runs are whole entries or parts of them (``harness.cli.parts``: an emulated
entry cut into groups of its test files, each a pytest process of its own, folded back into
the entry when its last part ends), given longest first.

**Local** (``--jobs N``, default: every core): N units at a time, each driven by a thread of
the parent that reads its pytest process's output; a unit whose pytest process has ended gives
its core to the next unit at once, while its thread folds its entry's parts and writes the
entry's report formats (:func:`free_core`). Rows are printed as they come, each line
whole (:class:`LineAtomic`) and prefixed by its DMC/status, so two entries' lines never mix
mid-line. A pytest process that dies leaves its entry exactly as a killed sequential run does
(records on disk, ``run-state.json`` not finished): ``dmct run --resume`` runs what is missing.
The pytest processes are forked from a ``multiprocessing`` fork server that imported the heavy
modules once (:data:`PRELOAD`), so an entry no longer pays a second of imports; the run hands
them the catalogue it parsed (:func:`catalogue_handed_down`).

**Dask** (``--scheduler tcp://HOST:8786``): each unit is a task (:func:`run_entry_task`) that
runs the pytest process in a scratch directory of the worker and **returns the entry's
directory to the client** as a zip archive, which the client unpacks into ``<out>``. So the
workers need the harness installed and the lab config (and its ``profile_paths``) readable at
the same path, but no shared out directory; and the client is the only writer of ``<out>``:
a worker lost mid-entry leaves nothing behind, Dask runs the task again on another worker from
the same input, and no record is ever written twice (two attempts of one task never write the
same ``records.jsonl``). A resumed entry ships its directory to the worker and gets it back
completed. An entry in flight when the client itself is killed has no files yet: ``--resume``
runs it again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from harness.config.catalogue import CATALOGUE_CACHE_ENV, write_catalogue_cache

T = TypeVar("T")

#: How long ``--scheduler`` waits for the scheduler to answer.
CONNECT_TIMEOUT = "10s"
#: Lines of a pytest process's own output an entry keeps (to say why pytest could not run).
TAIL_LINES = 40


@dataclass(frozen=True)
class Entry:
    """One DMC and installation status of a run, and what the run does with it."""

    dmc: str
    status: str
    out: Path
    #: ``run``: from scratch; ``resume``: only the cases with no record; ``kept``: complete.
    action: Literal["run", "resume", "kept"] = "run"
    #: Ids of the cases that already have a record (``resume`` and ``kept``).
    kept: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.dmc}/{self.status}"


@dataclass
class Ran:
    """What running the pytest process of an entry gave: its exit code and output tail."""

    returncode: int
    tail: list[str] = field(default_factory=list)
    #: CPU seconds of the pytest process (one forked from the fork server says; else None).
    cpu_s: float | None = None


class EntryFailed(Exception):
    """pytest could not run the packs of an entry (usage, collection): the run stops."""


def default_jobs() -> int:
    """Entries run at once by default: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# -- line-atomic output -------------------------------------------------------------------------

class LineAtomic(io.TextIOBase):
    """A ``sys.stdout`` for several threads: each thread's text goes out one whole line at a
    time, under one lock, so lines of parallel entries never mix mid-line."""

    #: Says to :class:`harness.cli.output.Table` that the terminal is shared: plain lines only.
    line_atomic = True

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._local = threading.local()

    def _buffer(self) -> list[str]:
        buffer: list[str] | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = []
        return buffer

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        """A terminal behind it still is one (rows are fitted to its width)."""
        return bool(getattr(self.target, "isatty", lambda: False)())

    def write(self, text: str) -> int:
        buffer = self._buffer()
        buffer.append(text)
        if "\n" in text:
            joined = "".join(buffer)
            whole, _, rest = joined.rpartition("\n")
            buffer[:] = [rest] if rest else []
            with self._lock:
                self.target.write(whole + "\n")
                self.target.flush()
        return len(text)

    def flush(self) -> None:
        """Whole lines are already out; a partial line waits for its end (or :meth:`close`)."""

    def finish_thread(self) -> None:
        """Write out what this thread left without a newline."""
        buffer = self._buffer()
        if buffer:
            with self._lock:
                self.target.write("".join(buffer) + "\n")
                self.target.flush()
            buffer.clear()


# -- local: every core ----------------------------------------------------------------------------

def run_local(entries: Sequence[Entry], body: Callable[[Entry], T], *, jobs: int) -> list[T]:
    """``body(entry)`` for every entry, ``jobs`` at a time; results in entry order.

    ``jobs == 1`` runs them one after another in this thread, printing exactly as a sequential
    run always did. Otherwise an entry holds one of the ``jobs`` cores until its body calls
    :func:`free_core` (its pytest process has ended) or returns: the next entry starts then,
    while the body goes on with what needs no core of its own (folding parts, writing the
    entry's report formats). An :class:`EntryFailed` stops the run: no entry starts after it,
    those running finish (each keeps its records), and it is raised again.
    """
    if jobs <= 1 or len(entries) <= 1:
        return [body(entry) for entry in entries]
    results: dict[int, T] = {}
    failure: EntryFailed | None = None
    atomic = LineAtomic(sys.stdout)
    #: What wakes the loop below: True, a core given back; False, a body returned.
    events: queue.SimpleQueue[bool] = queue.SimpleQueue()

    def one(index: int) -> tuple[int, T]:
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                events.put(True)

        _core.release = release
        try:
            return index, body(entries[index])
        finally:
            _core.release = None
            release()
            atomic.finish_thread()

    # Cores held at most ``jobs``; a thread more per core for bodies finishing after theirs.
    with contextlib.redirect_stdout(atomic), \
            ThreadPoolExecutor(2 * jobs, thread_name_prefix="dmct-entry") as pool:
        pending = iter(range(len(entries)))
        running: set[Future[tuple[int, T]]] = set()
        holding = 0

        def start_more() -> None:
            nonlocal holding
            while failure is None and holding < jobs:
                index = next(pending, None)
                if index is None:
                    return
                future = pool.submit(one, index)
                future.add_done_callback(lambda _: events.put(False))
                running.add(future)
                holding += 1

        try:
            start_more()
            while running:
                woke: list[bool] = []
                with contextlib.suppress(queue.Empty):
                    woke.append(events.get(timeout=0.5))  # (a stop signal is not held up)
                while not events.empty():
                    woke.append(events.get())
                holding -= woke.count(True)  # the cores given back
                for future in [f for f in running if f.done()]:
                    running.discard(future)
                    try:
                        index, result = future.result()
                    except EntryFailed as exc:
                        failure = failure or exc
                        continue
                    results[index] = result
                start_more()
        except KeyboardInterrupt:
            # Each pytest process has a process group of its own, so a terminal's Ctrl-C (or a
            # SIGTERM) reaches only dmct: stop every running one (each records its case and
            # stops its bench), so their threads return. Nothing new starts.
            for future in running:
                future.cancel()
            from harness.cli.child import stop_all

            stop_all()
            raise
    if failure is not None:
        raise failure
    return [results[i] for i in sorted(results)]


#: The running entry's way to give its core back (per thread of :func:`run_local`).
_core = threading.local()


def free_core() -> None:
    """Say that the calling entry's pytest process has ended: under :func:`run_local` the next
    entry starts now, not once this one's reports are written. A no-op anywhere else."""
    release = getattr(_core, "release", None)
    if release is not None:
        release()


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """``os.environ`` with ``values`` set (``None``: unset) while the entries run, as it was
    after: the pytest processes (and Dask tasks) inherit them."""
    before = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def catalogue_handed_down(catalogue: Any) -> Iterator[None]:
    """While the entries run, their pytest processes take the catalogue this process parsed
    (a pickle in a temporary file named by ``$DMCT_CATALOGUE_CACHE``) instead of parsing every
    profile and DMC file again."""
    if catalogue is None or os.environ.get(CATALOGUE_CACHE_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="dmct-catalogue-") as tmp:
        path = Path(tmp) / "catalogue.pickle"
        write_catalogue_cache(catalogue, path)
        os.environ[CATALOGUE_CACHE_ENV] = str(path)
        try:
            yield
        finally:
            os.environ.pop(CATALOGUE_CACHE_ENV, None)


# -- pytest processes forked from a preloaded server -------------------------------------------

#: Modules an entry's pytest process would import anyway (zigpy alone takes about a second),
#: imported once by the fork server (``multiprocessing``'s ``forkserver``) that forks every
#: entry's process. The installed third-party pytest plugins are among them (pytest loads every
#: one in every process: 60 ms each time; one not installed is skipped), not the harness's own:
#: a plugin must be imported by pytest to have its assertions rewritten, and no third-party
#: plugin's assertions are a case's. ``harness.cli.preload`` stays last: it freezes the
#: collector's view of everything loaded before it.
PRELOAD = (
    "pytest", "_pytest.python", "_pytest.fixtures", "zigpy.application", "zigpy.zcl.clusters",
    "zigpy.zdo", "hypothesis", "hypothesis.strategies", "pydantic", "yaml", "aiosqlite",
    "cryptography.hazmat.primitives.asymmetric.ec", "harness.bench", "harness.dcc.client",
    "harness.migration", "harness.report.build",
    # the emulated bench's (imported by its backend when it starts; a real bench never needs it)
    "harness.backend.emulated", "harness.emulator.emulator", "harness.emulator.radio",
    "_hypothesis_pytestplugin", "allure_pytest.plugin", "pytest_timeout", "xdist.plugin",
    "xdist.looponfail", "pytest_benchmark.plugin",
    "harness.cli.preload",
)
#: Prefix of the last line of a forked pytest process: the CPU seconds it used.
CPU_PREFIX = "@dmct-cpu "
#: Set to ``0`` to start every entry's pytest as a fresh ``python -m pytest`` instead.
FORKSERVER_ENV = "DMCT_FORKSERVER"
#: pytest's warning that a module imported before it started is not assertion-rewritten: the
#: preloaded ``hypothesis`` and third-party plugins, whose assertions are no case's.
_PRELOAD_WARNING = ("ignore:Module already imported so cannot be rewritten"
                    ":pytest.PytestAssertRewriteWarning")


class _InheritedFd:
    """A descriptor handed to the forked process (as a :class:`Connection` is): the results
    directory's lock, which the pytest process must hold while it lives."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        from multiprocessing import reduction

        return (_rebuild_fd, (reduction.DupFd(self.fd),))


def _rebuild_fd(duplicate: Any) -> int:
    return int(duplicate.detach())


def _own_group_and_die_with_parent() -> None:
    """As ``harness.cli.child``'s ``preexec_fn`` does for a fresh process: a process group of
    its own (a terminal's Ctrl-C reaches ``dmct``, which stops its entries), and SIGINT when its
    parent (the fork server, which ends with ``dmct``) dies."""
    from harness.cli.child import parent_death_hook

    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    hook = parent_death_hook(os.getppid())
    if hook is not None:
        hook()


def _forked_pytest(argv: list[str], writer: Any, env: dict[str, str], cwd: str,
                   keep: int | None = None) -> None:
    """In the forked process: output to the parent's pipe, the parent's environment and
    directory, then pytest as ``python -m pytest ARGV`` would run it. ``keep``: the lock's
    descriptor, held (never read) until the process ends."""
    import gc

    _own_group_and_die_with_parent()
    del keep  # the descriptor stays open: the lock is held as long as this process lives

    # The preloaded modules' objects are shared with the server until written: a collection
    # that walks them (pytest collects five times at the end) would copy them all.
    gc.freeze()
    fd = writer.fileno()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    writer.close()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="replace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="replace", line_buffering=True)
    sys.argv = [sys.executable, "-m", "pytest", *argv]
    import pytest

    code = pytest.main(["-W", _PRELOAD_WARNING, *argv])
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process alone, since the fork
    print(f"{CPU_PREFIX}{usage.ru_utime + usage.ru_stime:.3f}")
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(code))


class ForkedPytest:
    """A pytest process forked from the preloaded server, with what ``harness.cli.child``
    uses of a :class:`subprocess.Popen` (text ``stdout``, ``wait``, ``send_signal``,
    ``kill``)."""

    def __init__(self, command: Sequence[str], env: dict[str, str],
                 keep_fd: int | None = None) -> None:
        context = _forkserver_context()
        self.args = list(command)
        reader, writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_forked_pytest,
            args=(list(command[3:]), writer, dict(env), os.getcwd(),
                  _InheritedFd(keep_fd) if keep_fd is not None else None),
            name="dmct-pytest", daemon=False)
        self._process.start()
        writer.close()
        self.pid: int = self._process.pid or 0  # set once started
        self.stdout = io.TextIOWrapper(io.FileIO(os.dup(reader.fileno()), "r"),
                                       encoding="utf-8", errors="replace")
        reader.close()
        self.returncode: int | None = None

    def __enter__(self) -> ForkedPytest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stdout.close()
        self.wait()

    def poll(self) -> int | None:
        if self._process.exitcode is not None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.returncode = self._process.exitcode
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        if self.poll() is None:
            self._process.kill()


@contextlib.contextmanager
def pytest_server() -> Iterator[None]:
    """While the entries run, the fork server (if one starts) stays up; after, it is stopped
    and waited for (so its processes' CPU time counts as this process's children's, and no
    server with modules of an older harness outlives the run)."""
    try:
        yield
    finally:
        from multiprocessing import forkserver

        stop = getattr(forkserver._forkserver, "_stop", None)
        if stop is not None:
            with contextlib.suppress(OSError, ChildProcessError):
                stop()


#: Set once a fork server could not start: this process does not try again.
_NO_FORKSERVER: list[bool] = []


def _forkserver_context() -> Any:
    """``multiprocessing``'s fork server context, with :data:`PRELOAD` for its server."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _may_fork() -> bool:
    import multiprocessing

    return (not _NO_FORKSERVER and os.environ.get(FORKSERVER_ENV, "1") != "0"
            and "forkserver" in multiprocessing.get_all_start_methods())


def warm_pytest_server() -> None:
    """Start the fork server now, before the lab config is read and the run planned: its
    imports (about a second) then overlap this process's own start instead of holding back
    the first entry. Every pytest process of the run is forked from it, a run of one entry
    too (the server's imports are the ones a fresh process would make)."""
    if not _may_fork():
        return
    from multiprocessing import forkserver

    _forkserver_context()
    try:
        forkserver.ensure_running()
    except OSError:  # no server (e.g. a $TMPDIR too long for its socket): fresh processes
        _NO_FORKSERVER.append(True)


def spawn_pytest(command: Sequence[str], env: dict[str, str], *,
                 preexec: Callable[[], None] | None = None, keep_fd: int | None = None) -> Any:
    """The pytest process of an entry (``command`` is ``python -m pytest ARGS``): forked from
    the preloaded server where there is one (Linux, and ``$DMCT_FORKSERVER`` not ``0``),
    else a fresh process. Either way it has a process group of its own, dies with ``dmct``
    (``preexec`` for a fresh one) and holds ``keep_fd`` (the results directory's lock)."""
    if list(command[1:3]) == ["-m", "pytest"] and _may_fork():
        try:
            return ForkedPytest(command, env, keep_fd)
        except OSError:  # no server (e.g. a $TMPDIR too long for its socket): a fresh process
            _NO_FORKSERVER.append(True)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, encoding="utf-8", errors="replace", env=env,
                            process_group=0, preexec_fn=preexec,
                            pass_fds=(keep_fd,) if keep_fd is not None else ())


# -- Dask: many machines --------------------------------------------------------------------------

#: Member of an entry archive naming the files that are hard links of another (Allure's
#: attachments are links of the evidence): stored once, linked again when unpacked.
_LINKS = ".dmct-links.json"


def _zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    seen: dict[tuple[int, int], str] = {}
    links: dict[str, str] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(directory.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(directory).as_posix()
            stat = path.stat()
            inode = (stat.st_dev, stat.st_ino)
            if stat.st_nlink > 1 and inode in seen:
                links[name] = seen[inode]
                continue
            seen[inode] = name
            archive.write(path, name)
        if links:
            archive.writestr(_LINKS, json.dumps(links))
    return buffer.getvalue()


def _unzip(data: bytes, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        links: dict[str, str] = json.loads(archive.read(_LINKS)) if _LINKS in names else {}
        for name in [*names, *links, *links.values()]:
            if not (root / name).resolve().is_relative_to(root):
                raise ValueError(f"entry archive member outside its directory: {name!r}")
        archive.extractall(directory, [n for n in names if n != _LINKS])
    for name, original in links.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(directory / original, target)
        except OSError:
            shutil.copyfile(directory / original, target)


def run_entry_task(spec: dict[str, Any], catalogue: bytes | None = None) -> dict[str, Any]:
    """A Dask task: the pytest process of one entry on this worker, in a scratch directory;
    returns its exit code, output tail and the entry's directory as a zip archive."""
    import argparse
    import signal

    from harness.cli.child import _pytest_command, parent_death_hook
    from harness.report.records import PLAN_PREFIX, PROGRESS_PREFIX

    with tempfile.TemporaryDirectory(prefix="dmct-entry-") as tmp:
        out = Path(tmp) / spec["dmc"] / spec["status"]
        out.mkdir(parents=True)
        if spec.get("archive"):
            _unzip(spec["archive"], out)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.get("env", {})}
        if catalogue is not None:
            cache = Path(tmp) / "catalogue.pickle"
            cache.write_bytes(catalogue)
            env[CATALOGUE_CACHE_ENV] = str(cache)
        command = _pytest_command(
            argparse.Namespace(pytest_args=list(spec["pytest_args"]),
                               pack_path=list(spec.get("pack_paths", ())),
                               fault=list(spec.get("faults", ()))),
            argparse.Namespace(path=spec["lab"]), spec["packs"], spec["dmc"], spec["status"],
            out, resume=bool(spec.get("resume")))
        completed = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            encoding="utf-8", errors="replace", env=env, check=False,
            # the pytest process of a task dies with its worker (a lost worker's entry runs
            # again elsewhere; the orphan must not go on using a core)
            preexec_fn=parent_death_hook(os.getpid(), signal.SIGKILL))
        tail = [line for line in completed.stdout.splitlines()
                if line.strip() and PLAN_PREFIX not in line and PROGRESS_PREFIX not in line]
        return {"returncode": completed.returncode, "tail": tail[-TAIL_LINES:],
                "archive": _zip_dir(out)}


def dask_spec(entry: Entry, *, lab: str, packs: Sequence[str], pytest_args: Sequence[str],
              pack_paths: Sequence[str] = (), faults: Sequence[str] = ()) -> dict[str, Any]:
    """The task input of ``entry``: a resumed entry carries its directory. ``lab`` and
    ``pack_paths`` are paths the worker must see as this machine does (a shared file system)."""
    resume = entry.action == "resume"
    from harness.pytest_plugin import EVIDENCE_ENV

    env = {EVIDENCE_ENV: os.environ[EVIDENCE_ENV]} if EVIDENCE_ENV in os.environ else {}
    return {"dmc": entry.dmc, "status": entry.status, "lab": lab, "packs": list(packs),
            "pack_paths": list(pack_paths), "faults": list(faults),
            "pytest_args": list(pytest_args), "resume": resume, "env": env,
            "archive": _zip_dir(entry.out) if resume else None}


def connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``; a missing ``distributed`` or an
    unreachable scheduler is an :class:`OSError` with one line saying which."""
    try:
        from distributed import Client
    except ImportError:
        raise OSError("--scheduler needs Dask distributed: pip install "
                      "'smets1-dmct[cluster]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def run_dask(client: Any, units: Sequence[Any], *, prepare: Callable[[Any], None],
             finish: Callable[[Any, Ran], None], lab: str, packs: Sequence[str],
             pytest_args: Sequence[str], catalogue: Any = None, pack_paths: Sequence[str] = (),
             faults: Sequence[str] = ()) -> None:
    """Every unit (``harness.cli.parts.Unit``: a part of an entry, or a whole one) as a task
    of ``client``'s cluster, the first given first (Dask's priority); ``prepare`` before each
    is submitted, ``finish`` as each comes back (its directory unpacked into ``unit.out``
    first)."""
    from distributed import as_completed

    shared = None
    if catalogue is not None:
        shared = client.scatter(pickle.dumps(catalogue), broadcast=True, hash=False)
    futures = {}
    for rank, unit in enumerate(units):
        entry = unit.entry
        prepare(unit)
        if entry.action == "kept":
            finish(unit, Ran(0))
            continue
        spec = dask_spec(entry, lab=lab, packs=unit.part.targets if unit.part else packs,
                         pytest_args=pytest_args, pack_paths=pack_paths, faults=faults)
        name = f"p{unit.part.index}" if unit.part else "whole"
        future = client.submit(
            run_entry_task, spec, shared, pure=False, priority=len(units) - rank,
            key=f"dmct-entry-{entry.dmc}-{entry.status}-{name}-{os.urandom(4).hex()}")
        futures[future] = unit
    try:
        for future in as_completed(list(futures)):
            unit = futures[future]
            outcome = future.result()
            if unit.entry.action != "resume" and unit.part is None:
                shutil.rmtree(unit.out / "allure-results", ignore_errors=True)
            _unzip(outcome["archive"], unit.out)
            finish(unit, Ran(outcome["returncode"], outcome["tail"]))
            future.release()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
