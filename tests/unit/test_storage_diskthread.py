"""DiskThread: calls run in order on one thread; results and errors reach the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from raftredis.storage.diskthread import DiskThread


def test_calls_run_in_order_on_one_thread_and_return_their_results() -> None:
    async def main() -> None:
        dt = DiskThread("test-disk")
        seen: list[tuple[int, str]] = []

        def call(i: int) -> int:
            seen.append((i, threading.current_thread().name))
            return i * i

        futs = [dt.submit(lambda i=i: call(i)) for i in range(200)]
        assert await asyncio.gather(*futs) == [i * i for i in range(200)]
        assert [i for i, _ in seen] == list(range(200))
        assert {name for _, name in seen} == {"test-disk"}
        dt.shutdown()

    asyncio.run(main())


def test_an_error_goes_to_its_own_waiter_only() -> None:
    async def main() -> None:
        dt = DiskThread("test-disk")

        def boom() -> None:
            raise OSError(28, "No space left on device")

        bad, good = dt.submit(boom), dt.submit(lambda: "after")
        with pytest.raises(OSError, match="No space"):
            await bad
        assert await good == "after"
        dt.shutdown()

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_stop_the_call_or_the_ones_after() -> None:
    async def main() -> None:
        dt = DiskThread("test-disk")
        gate = threading.Event()
        ran: list[str] = []
        first = dt.submit(lambda: (gate.wait(5), ran.append("first")))
        second = dt.submit(lambda: ran.append("second") or "done")
        first.cancel()
        gate.set()
        assert await second == "done"
        assert ran == ["first", "second"]
        dt.shutdown()

    asyncio.run(main())


def test_shutdown_finishes_queued_work_then_refuses_more() -> None:
    async def main() -> None:
        dt = DiskThread("test-disk")
        ran: list[int] = []
        futs = [dt.submit(lambda i=i: ran.append(i)) for i in range(50)]
        dt.shutdown()  # joins: everything queued before it has run
        assert ran == list(range(50))
        await asyncio.gather(*futs)
        with pytest.raises(RuntimeError, match="shut down"):
            dt.submit(lambda: None)

    asyncio.run(main())


def test_the_thread_starts_at_first_use() -> None:
    async def main() -> None:
        dt = DiskThread("test-disk-lazy")

        def named() -> list[str]:
            return [t.name for t in threading.enumerate()]

        assert "test-disk-lazy" not in named()
        assert "test-disk-lazy" in await dt.submit(named)
        dt.shutdown()
        assert "test-disk-lazy" not in named()

    asyncio.run(main())
