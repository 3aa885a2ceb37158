"""Voice commands first: background jobs run in units and hand the GPU over between them.

Steered by events (the stub engine's `unit_hold`, the gate's own state), never
by timing: the order of the engine's work is what is asserted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.gate import GpuGate, Priority, QueueFull, Turn
from app.stub_engine import PROGRESS_STEPS, StubEngine

from .conftest import wav_bytes

SPEAKERS = "/v1/audio/transcribe-with-speakers"
TRANSCRIBE = "/v1/audio/transcriptions"
UNITS = [f"transcribe unit {n}/{PROGRESS_STEPS}" for n in range(1, PROGRESS_STEPS + 1)]


def _post(client: TestClient, path: str, data: dict[str, str]) -> Any:
    return client.post(path, files={"file": ("a.wav", wav_bytes(4.0), "audio/wav")}, data=data)


def _in_thread(
    client: TestClient, path: str, data: dict[str, str], out: list[int]
) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(_post(client, path, data).status_code))
    thread.start()
    return thread


def _wait_for(predicate: Callable[[], bool]) -> None:
    """A condition the test waits for (bounded so a bug fails instead of hanging)."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition never came"
        time.sleep(0.01)


@pytest.mark.parametrize("path", [TRANSCRIBE, SPEAKERS])
def test_voice_command_served_between_units_of_a_background_job(
    make_client: Callable[..., TestClient], path: str
) -> None:
    """A command arriving during unit 1 runs right after it, before the job's remaining units
    and before a background job queued earlier than the command."""
    engine = StubEngine(hf_token="x")
    engine.unit_hold = threading.Event()
    client = make_client(engine, max_queue=4)
    gate: GpuGate = client.app.state.service.gate  # type: ignore[attr-defined]
    results: list[int] = []
    job = _in_thread(client, path, {"priority": "background"}, results)
    try:
        assert engine.unit_started.wait(10)
        queued_job = _in_thread(client, TRANSCRIBE, {"priority": "background"}, results)
        _wait_for(lambda: gate.waiting == 1)
        command = _in_thread(client, TRANSCRIBE, {}, results)
        _wait_for(lambda: gate.interactive_waiting)
    finally:
        engine.unit_hold.set()
    for thread in (job, queued_job, command):
        thread.join(10)
    assert results.count(200) == 3
    first_job = engine.jobs[: PROGRESS_STEPS + 1]
    assert first_job == [UNITS[0], "transcribe", *UNITS[1:]]
    if path == SPEAKERS:
        assert engine.jobs[PROGRESS_STEPS + 1] == "diarize"
    assert engine.jobs[-PROGRESS_STEPS:] == UNITS  # the earlier queued job, after the command
    assert not gate.busy


def test_interactive_by_default_runs_whole(client: TestClient, engine: StubEngine) -> None:
    """Without the field a request is a voice command: one piece of work, no units."""
    assert _post(client, TRANSCRIBE, {}).status_code == 200
    assert _post(client, TRANSCRIBE, {"priority": " Interactive "}).status_code == 200
    assert engine.jobs == ["transcribe", "transcribe"]


def test_background_alone_keeps_the_gpu(client: TestClient, engine: StubEngine) -> None:
    """Nobody waiting: the units run back to back and the answer is the usual one."""
    resp = _post(client, TRANSCRIBE, {"priority": "background", "response_format": "json"})
    assert resp.status_code == 200
    assert resp.json()["text"]
    assert engine.jobs == UNITS


@pytest.mark.parametrize("path", [TRANSCRIBE, SPEAKERS])
@pytest.mark.parametrize("value", ["urgent", "0", "backgroundx"])
def test_bad_priority_is_400(client: TestClient, engine: StubEngine, path: str, value: str) -> None:
    resp = _post(client, path, {"priority": value})
    assert resp.status_code == 400
    assert resp.json() == {
        "detail": f"Unsupported priority {value!r}; use one of: interactive, background"
    }
    assert engine.jobs == []


async def test_gate_orders_interactive_then_resuming_then_background() -> None:
    """The gate alone: who gets the GPU when the holder hands it over and when it ends."""
    gate = GpuGate(max_queue=5)
    order: list[str] = []
    handed = asyncio.Event()
    go = asyncio.Event()

    async def background_job(name: str, *, hands_over: bool) -> None:
        async with gate.slot(Priority.BACKGROUND) as turn:
            order.append(f"{name} unit 1")
            await go.wait()
            if hands_over:
                handed.set()
                assert await gate.hand_over(turn)
            order.append(f"{name} unit 2")

    async def command(name: str) -> None:
        async with gate.slot():
            order.append(name)

    first = asyncio.ensure_future(background_job("job", hands_over=True))
    await asyncio.sleep(0)
    assert gate.busy
    later = asyncio.ensure_future(background_job("later", hands_over=False))
    commands = [asyncio.ensure_future(command(f"cmd{n}")) for n in (1, 2)]
    await asyncio.sleep(0)
    assert gate.waiting == 3
    assert gate.interactive_waiting
    go.set()
    await asyncio.gather(first, later, *commands)
    assert order == ["job unit 1", "cmd1", "cmd2", "job unit 2", "later unit 1", "later unit 2"]
    assert not gate.busy
    assert gate.waiting == 0


async def test_hand_over_without_waiters_keeps_the_gpu() -> None:
    gate = GpuGate(max_queue=1)
    async with gate.slot(Priority.BACKGROUND) as turn:
        assert not await gate.hand_over(turn)
        assert turn.holding
    assert not gate.busy


async def test_paused_job_whose_request_ends_never_resumes() -> None:
    """The request of a paused background job ends: its resume is cancelled, the queue moves on."""
    gate = GpuGate(max_queue=5)
    turns: list[Turn] = []
    command_queued, release_command = asyncio.Event(), asyncio.Event()
    resumed = False

    async def command() -> None:
        async with gate.slot():
            await release_command.wait()

    async def background_request() -> None:
        nonlocal resumed
        async with gate.slot(Priority.BACKGROUND) as turn:
            turns.append(turn)
            await command_queued.wait()
            await gate.hand_over(turn)
            resumed = True

    job = asyncio.ensure_future(background_request())
    await asyncio.sleep(0)
    command_task = asyncio.ensure_future(command())
    await asyncio.sleep(0)
    assert gate.interactive_waiting
    command_queued.set()
    for _ in range(100):
        if turns[0].waiting is not None:
            break
        await asyncio.sleep(0)
    assert not turns[0].holding  # it handed over and waits to resume
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    release_command.set()
    await command_task
    assert not resumed
    assert not gate.busy
    assert gate.waiting == 0


async def test_full_waiting_room_refuses_either_priority() -> None:
    gate = GpuGate(max_queue=0)
    async with gate.slot(Priority.BACKGROUND):
        for priority in Priority:
            with pytest.raises(QueueFull):
                async with gate.slot(priority):
                    pass
