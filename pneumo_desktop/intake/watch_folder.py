"""A watched folder: new image files are handed on once complete, once each, across restarts.

Polling (no extra dependency; a poll of a few thousand files takes milliseconds). A file is
complete when its size and modification time are the same on two polls in a row. Each handled
file is remembered by path, size and mtime in a small state file (one JSON line each, synced),
so it is not read again after a restart; content already handed on (same sha256, e.g. a copy
under another name) is skipped as a duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from pneumo_desktop.imaging.discovery import scan_folder
from pneumo_desktop.intake.pipeline import Arrival, describe, sha256_file

log = logging.getLogger(__name__)

#: names of files still being written by common copy tools and browsers
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", "~")


class WatchFolder:
    """Polls `folder` every `interval_s` on a thread of its own (or call `poll()`).

    `on_arrival` gets each new complete file as an Arrival; `known(sha256)` says whether the
    content was handed on before (e.g. `AuditLog.has_sha256`), on top of this session's own.
    """

    def __init__(self, folder: str | os.PathLike, on_arrival: Callable[[Arrival], None], *,
                 state_file: str | os.PathLike, known: Callable[[str], bool] | None = None,
                 interval_s: float = 1.0):
        self.folder = Path(folder).resolve()
        self.on_arrival, self.known = on_arrival, known
        self.state_file, self.interval_s = Path(state_file), interval_s
        self.source = f"folder {self.folder}"
        self._done: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) handled
        self._hashes: set[str] = set()
        self._pending: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) last poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_state()

    def _load_state(self) -> None:
        if not self.state_file.exists():
            return
        with open(self.state_file, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    self._done.add((entry["path"], entry["size"], entry["mtime_ns"]))
                    self._hashes.add(entry["sha256"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a power loss

    def _remember(self, key: tuple[str, int, int], sha256: str) -> None:
        self._done.add(key)
        self._hashes.add(sha256)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"path": key[0], "size": key[1], "mtime_ns": key[2],
                           "sha256": sha256}) + "\n"
        with open(self.state_file, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def poll(self) -> list[Arrival]:
        """One scan: hand on the files that are new and complete; returns them."""
        handed: list[Arrival] = []
        seen: set[str] = set()
        for path in scan_folder(self.folder) if self.folder.is_dir() else []:
            name = str(path)
            if path.name.lower().endswith(PARTIAL_SUFFIXES):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            seen.add(name)
            key = (name, stat.st_size, stat.st_mtime_ns)
            if key in self._done:
                continue
            if stat.st_size == 0 or self._pending.get(name) != key[1:]:
                self._pending[name] = key[1:]  # new or still growing: look again next poll
                continue
            del self._pending[name]
            arrival = self._arrival(path, key)
            if arrival:
                handed.append(arrival)
        for name in set(self._pending) - seen:  # deleted or renamed before completion
            del self._pending[name]
        return handed

    def _arrival(self, path: Path, key: tuple[str, int, int]) -> Arrival | None:
        try:
            sha256 = sha256_file(path)
        except OSError:
            return None
        if sha256 in self._hashes or (self.known and self.known(sha256)):
            self._remember(key, sha256)  # a duplicate: never scored twice
            return None
        arrival = Arrival(path, self.source, sha256, **describe(path))
        self.on_arrival(arrival)
        self._remember(key, sha256)
        return arrival

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watch-folder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # e.g. a vanished network share: keep watching
                log.exception("polling %s failed", self.folder)
            self._stop.wait(self.interval_s)
