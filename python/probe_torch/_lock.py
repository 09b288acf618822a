"""The run lock: one process computes a run. The same protocol as probe's src/trace/run-lock.ts, so
a PyTorch run and `probe run`/`probe sweep` respect each other's locks (docs/trace-format.md):

- `<trace>.lock` is created with O_EXCL and holds JSON {pid, host, token, startedAt, beats};
- the holder rewrites it every HEARTBEAT seconds, so its mtime says it is alive;
- a lock not rewritten for STALE seconds is stale whichever host holds it, and on the holder's own
  host a lock whose pid no longer runs is stale at once;
- taking over renames the stale file to a name of one's own first and checks it is the one judged.
"""
import json
import os
import secrets
import socket
import threading
import time

from ._clock import iso_now

LOCK_SUFFIX = ".lock"
HEARTBEAT = 10.0
STALE = 120.0


class RunBusy(RuntimeError):
    pass


def _read(path):
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    info = None
    try:
        with open(path, encoding="utf8") as f:
            info = json.load(f)
        if not isinstance(info, dict) or not isinstance(info.get("token"), str):
            info = None
    except (OSError, ValueError):
        pass
    return info, mtime


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False


def is_stale(info, mtime, now=None):
    now = time.time() if now is None else now
    if now - mtime > STALE:
        return True
    if info and info.get("host") == socket.gethostname() and info.get("pid") != os.getpid():
        pid = info.get("pid")
        if isinstance(pid, int) and not _alive(pid):
            return True
    return False


class RunLock:
    def __init__(self, path, fd, info):
        self.path = path
        self.info = info
        self._fd = fd
        self._stop = threading.Event()
        self._released = False
        self._thread = threading.Thread(target=self._beat, name="probe-run-lock", daemon=True)
        self._thread.start()

    def _ours(self):
        seen = _read(self.path)
        return seen is not None and seen[0] is not None and seen[0].get("token") == self.info["token"]

    def _beat(self):
        beats = 0
        while not self._stop.wait(HEARTBEAT):
            if not self._ours():
                continue
            try:
                beats += 1
                text = json.dumps(dict(self.info, beats=beats), separators=(",", ":")).encode()
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, text, 0)
            except OSError:
                pass  # a missed beat; the next may succeed

    def release(self):
        if self._released:
            return
        self._released = True
        self._stop.set()
        try:
            if self._ours():
                os.unlink(self.path)
        except OSError:
            pass
        try:
            os.close(self._fd)
        except OSError:
            pass


def _create(path, info):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None
    try:
        os.write(fd, json.dumps(info, separators=(",", ":")).encode())
    except OSError:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    return fd


def acquire(trace_path):
    """Claims the run whose trace is `trace_path`, or raises RunBusy naming the holder."""
    path = trace_path + LOCK_SUFFIX
    token = secrets.token_hex(8)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "token": token, "startedAt": iso_now(), "beats": 0}
    holder = None
    for _ in range(3):
        fd = _create(path, info)
        if fd is not None:
            return RunLock(path, fd, info)
        seen = _read(path)
        if seen is None:
            continue  # released meanwhile
        holder, mtime = seen
        if not is_stale(holder, mtime):
            break
        aside = f"{path}.{token}.stale"
        try:
            os.rename(path, aside)
        except OSError:
            continue
        moved = _read(aside)
        same = moved is not None and moved[1] == mtime and (moved[0] or {}).get("token") == (holder or {}).get("token")
        if same:
            os.unlink(aside)
            continue
        try:
            os.rename(aside, path)  # a fresh lock another process had just created: give it back
        except OSError:
            pass
        holder = moved[0] if moved else None
        break
    who = f"pid {holder['pid']} on {holder['host']} (since {holder['startedAt']})" if holder else "another process"
    raise RunBusy(f"{trace_path} is being computed by {who}: wait for it to finish "
                  f"(its lock is {path}, taken over automatically once its holder is gone)")


__all__ = ["acquire", "RunLock", "RunBusy", "is_stale", "LOCK_SUFFIX", "HEARTBEAT", "STALE"]
