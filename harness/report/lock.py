"""One run per results directory: ``OUT/dmct.lock``.

``dmct run``, ``dmct run --resume`` and ``dmct report`` (``--final`` or not) take the lock
before they write anything under ``OUT``; a second one finds it held and stops (one line naming
the owner, exit 2).
Two runs writing one directory would interleave their records into one report.

The lock is an exclusive ``flock`` on ``OUT/dmct.lock``, whose content names the owner (pid,
host, the process's start time, when it took the lock, its pytest children). The kernel
releases a ``flock`` when the last process holding it ends, so an owner that died, even by
SIGKILL, leaves no lock behind that another run must wait for. The pytest children inherit the
locked file descriptor: a child orphaned by a killed ``dmct`` keeps the directory locked until
it has stopped writing.

Where ``flock`` is not to be had (a filesystem without it), the content decides: the owner is
gone when it was on this host and neither it nor a child of its record is alive with the start
time recorded (a pid reused by another process does not count). A lock whose owner was on
another host is never taken over: remove the file once that run is known to be gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_FILE = "dmct.lock"
LOCK_SCHEMA = "smets1-dmct/lock/1"
#: How long a reader waits for the owner to finish writing the lock's content.
_CONTENT_WAIT_S = 0.5


class LockHeld(Exception):
    """The directory is locked by a live run; the message is one line naming it."""


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22);
    ``None`` where there is no ``/proc`` or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, started: int | None) -> bool:
    """Process ``pid`` exists and, when ``started`` is known, is the one that started then
    (not another process given the same pid later)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if started is None:
        return True
    now = process_start(pid)
    return now is None or now == started


@dataclass(frozen=True)
class Process:
    pid: int
    started: int | None

    def alive(self) -> bool:
        return pid_alive(self.pid, self.started)


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or held) a results directory's lock: the lock file's content."""

    pid: int
    host: str
    started: int | None
    since: str
    command: str
    #: The owner's pytest children, which hold the lock as long as they live.
    children: tuple[Process, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["children"] = [asdict(c) for c in self.children]
        return {"schema": LOCK_SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: Any) -> LockOwner | None:
        """The owner in a lock file's JSON; ``None`` for anything else."""
        try:
            children = tuple(Process(int(c["pid"]), c.get("started")) for c in
                             data.get("children") or ())
            return cls(pid=int(data["pid"]), host=str(data["host"])[:255],
                       started=data.get("started"), since=str(data.get("since", ""))[:64],
                       command=str(data.get("command", "dmct"))[:64], children=children)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """The owner, or one of its children, still runs (known only for this host)."""
        processes = (Process(self.pid, self.started), *self.children)
        return any(p.alive() for p in processes)

    def describe(self) -> str:
        text = f"{self.command} (pid {self.pid} on host {self.host}"
        if self.since:
            text += f", since {self.since}"
        live = [c.pid for c in self.children if self.local and c.alive()]
        if live and not pid_alive(self.pid, self.started):
            text += "; ended"
        if live:
            text += (f"; its pytest process{'es' if len(live) > 1 else ''} "
                     f"{', '.join(map(str, live))} still running")
        return text + ")"


def _read_owner(fd: int) -> LockOwner | None:
    try:
        raw = os.pread(fd, 64 * 1024, 0)
        return LockOwner.from_dict(json.loads(raw.decode("utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_lock(out_root: Path) -> LockOwner | None:
    """The owner named in ``OUT/dmct.lock`` (held or not); ``None`` when there is none."""
    try:
        fd = os.open(Path(out_root) / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_owner(fd)
    finally:
        os.close(fd)


def is_locked(out_root: Path) -> bool:
    """Whether a live run holds ``OUT``'s lock now."""
    path = Path(out_root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        owner = _read_owner(fd)
        return owner is not None and (not owner.local or owner.alive())
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def held(out_root: Path, owner: LockOwner | None, *, elsewhere: bool = False) -> LockHeld:
    """The one-line refusal of a command on a directory ``owner`` holds."""
    who = owner.describe() if owner else "another dmct process"
    hint = (f"; if that run is gone, remove {Path(out_root) / LOCK_FILE}" if elsewhere else
            "; wait for it to end or stop it")
    return LockHeld(f"{out_root}: results directory in use by {who}: one run per results "
                    f"directory{hint}")


def check_free(out_root: Path) -> None:
    """Raise :class:`LockHeld` if a live run holds ``out_root`` now; writes nothing (a
    command asks this first, to refuse at once, and takes the lock once it has checked
    everything else)."""
    if is_locked(out_root):
        raise held(out_root, read_lock(out_root))


class RunLock:
    """The lock of one results directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, out_root: Path, command: str) -> None:
        self.out_root = Path(out_root)
        self.path = self.out_root / LOCK_FILE
        self.command = command
        self.fd: int | None = None
        #: The owner of a stale lock this one replaced, if any.
        self.recovered: LockOwner | None = None
        self._owner: LockOwner | None = None

    def acquire(self) -> RunLock:
        """Take the lock (creating ``OUT``), or raise :class:`LockHeld` naming its owner."""
        self.out_root.mkdir(parents=True, exist_ok=True)
        return self._acquire()

    def acquire_existing(self) -> RunLock:
        """Take the lock of an ``OUT`` that exists; one that does not is left alone (nothing
        there to protect, and the command says what is wrong with it)."""
        return self._acquire() if self.out_root.is_dir() else self

    def _acquire(self) -> RunLock:
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                self._flock(fd)
                if not self._same_file(fd):  # released and removed meanwhile: try the new one
                    os.close(fd)
                    continue
                previous = _read_owner(fd)
                # Free of flock, and still the content decides, conservatively: a live owner
                # of this host (or one the filesystem gave no flock) is never taken over.
                if previous is not None and not previous.local:
                    raise self._held(previous, elsewhere=True)
                if previous is not None and previous.alive():
                    raise self._held(previous)
                self.recovered = previous
                self.fd = fd
                me = os.getpid()
                self._owner = LockOwner(pid=me, host=socket.gethostname(),
                                        started=process_start(me),
                                        since=datetime.now(UTC).isoformat(timespec="seconds"),
                                        command=self.command)
                self._write()
                return self
            except BaseException:
                if self.fd != fd:
                    os.close(fd)
                raise
        raise LockHeld(f"{self.path}: cannot lock: the file keeps being replaced")

    def _flock(self, fd: int) -> bool:
        """``True`` when ``flock`` locked ``fd``; ``False`` where the filesystem has none."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            deadline = time.monotonic() + _CONTENT_WAIT_S
            owner = _read_owner(fd)
            while owner is None and time.monotonic() < deadline:  # being written right now
                time.sleep(0.02)
                owner = _read_owner(fd)
            raise self._held(owner) from None
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return False
            raise

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _held(self, owner: LockOwner | None, *, elsewhere: bool = False) -> LockHeld:
        return held(self.out_root, owner, elsewhere=elsewhere)

    def _write(self) -> None:
        assert self.fd is not None and self._owner is not None
        data = json.dumps(self._owner.as_dict()).encode("utf-8")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    @property
    def owner(self) -> LockOwner | None:
        return self._owner

    def add_child(self, pid: int) -> None:
        """Record a child that inherited the lock (it holds it for as long as it lives)."""
        if self.fd is None or self._owner is None:
            return
        self._owner = replace(self._owner, children=(*self._owner.children,
                                                     Process(pid, process_start(pid))))
        self._write()

    def remove_child(self, pid: int) -> None:
        if self.fd is None or self._owner is None:
            return
        self._owner = replace(self._owner, children=tuple(
            c for c in self._owner.children if c.pid != pid))
        self._write()

    def release(self) -> None:
        """Remove the lock file and let go (children that still live keep no lock file, but
        :meth:`release` is only called once they have ended)."""
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if self._same_file(self.fd):
                self.path.unlink()
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_root(directory: Path) -> Path:
    """The out root whose lock covers ``directory``: itself, or the out root above it when it
    is one ``<dmc>/<status>`` run directory."""
    directory = Path(directory)
    run_files = ("records.jsonl", "run-state.json", "dmct-report.json")
    if any((directory / name).is_file() for name in run_files):
        return directory.parent.parent
    return directory


@contextlib.contextmanager
def locked(out_root: Path, command: str) -> Iterator[RunLock]:
    """``with locked(OUT, "dmct run") as lock:`` the lock held for the block."""
    lock = RunLock(out_root, command).acquire()
    try:
        yield lock
    finally:
        lock.release()


__all__ = [
    "LOCK_FILE",
    "LockHeld",
    "LockOwner",
    "RunLock",
    "check_free",
    "held",
    "is_locked",
    "lock_root",
    "locked",
    "pid_alive",
    "process_start",
    "read_lock",
]
