"""Per-key locks and the readers-writer lock for shared resources."""

from __future__ import annotations

import threading

import pytest

from lbctl.providers.common.locks import KeyedLocks, SharedLock

pytestmark = pytest.mark.unit


def test_one_key_is_exclusive_other_keys_are_not() -> None:
    locks = KeyedLocks()
    entered = threading.Event()
    with locks.hold("a"):
        other = threading.Thread(target=lambda: _enter(locks, "b", entered))
        other.start()
        assert entered.wait(5), "another key is not blocked"
        other.join()
        blocked = threading.Event()
        same = threading.Thread(target=lambda: _enter(locks, "a", blocked))
        same.start()
        assert not blocked.wait(0.05), "the same key must wait"
    assert blocked.wait(5)
    same.join()


def _enter(locks: KeyedLocks, key: str, done: threading.Event) -> None:
    with locks.hold(key):
        done.set()


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = SharedLock()
    wrote = threading.Event()

    def write() -> None:
        with lock.writing():
            wrote.set()

    with lock.reading(), lock.reading():  # two readers at once
        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(0.05), "a writer waits for the readers"
    assert wrote.wait(5)
    writer.join()
