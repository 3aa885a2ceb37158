"""The simulator's clock for long work: alignment, aligner loads, model loads, real rates.

Assertions read what the simulator decided (each request's recorded ``gpu_s``,
the service's ``down_until``), never how long something took on this machine;
the only wall-clock checks are lower bounds (a busy machine only makes waits
longer).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.spark_sim.realistic import REALISTIC
from tests.spark_sim.server import SparkSim

from .test_sim import DROPPED, clip, post_json, upload

TRANSCRIBE = "/v1/audio/transcriptions"
SPEAKERS = "/v1/audio/transcribe-with-speakers"
# asyncio may run a timer up to its clock's resolution early; this is far above that.
EARLY_S = 0.01
REPO = Path(__file__).resolve().parents[2]


def word_form(seconds: float, **fields: str) -> aiohttp.FormData:
    """verbose_json asking for word timings (what makes the container align)."""
    form = upload(clip(seconds), response_format="verbose_json", **fields)
    form.add_field("timestamp_granularities[]", "word")
    return form


async def gpu_seconds(
    session: aiohttp.ClientSession, base: str, path: str, form: aiohttp.FormData
) -> float:
    """Send one job; the GPU time the simulator recorded for it (via /_sim/requests)."""
    status, _ = await post_json(session, f"{base}{path}", form)
    assert status == 200
    async with session.get(f"{base}/_sim/requests") as resp:
        records: list[dict[str, Any]] = await resp.json()
    record = records[-1]
    assert record["path"] == path
    held = record["gpu_finished_at"] - record["gpu_started_at"]
    assert held >= record["gpu_s"] - EARLY_S  # the GPU really was held that long
    gpu_s: float = record["gpu_s"]
    return gpu_s


async def control(session: aiohttp.ClientSession, base: str, **knobs: Any) -> dict[str, Any]:
    """POST /_sim/control and return the new state."""
    async with session.post(f"{base}/_sim/control", json=knobs) as resp:
        assert resp.status == 200, await resp.text()
        state: dict[str, Any] = await resp.json()
        return state


async def test_timing_knobs_default_to_instant(sim: SparkSim) -> None:
    """The rest of the suite keeps its quick answers: no alignment, aligner or model load time."""
    for state in sim.states.values():
        snapshot = state.snapshot()
        assert (snapshot["align_rtf"], snapshot["aligner_load_s"], snapshot["load_s"]) == (0, 0, 0)


async def test_words_cost_alignment_time(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Asked words (verbose_json + word) add align_rtf x duration; other requests do not align."""
    base = sim.url("whisperx")
    await control(session, base, rtf=0.1, align_rtf=0.5)
    plain = await gpu_seconds(session, base, TRANSCRIBE, upload(clip(0.4)))
    segments = await gpu_seconds(
        session, base, TRANSCRIBE, upload(clip(0.4), response_format="verbose_json")
    )
    words = await gpu_seconds(session, base, TRANSCRIBE, word_form(0.4))
    json_words = upload(clip(0.4), response_format="json")
    json_words.add_field("timestamp_granularities[]", "word")
    ignored = await gpu_seconds(session, base, TRANSCRIBE, json_words)
    assert plain == segments == ignored == pytest.approx(0.1 * 0.4)
    assert words == pytest.approx(0.1 * 0.4 + 0.5 * 0.4)


async def test_speakers_endpoint_always_aligns(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """transcribe-with-speakers needs word timings to assign speakers: it always aligns."""
    base = sim.url("whisperx")
    await control(session, base, rtf=0.1, align_rtf=0.5)
    assert await gpu_seconds(session, base, SPEAKERS, upload(clip(0.4))) == pytest.approx(
        0.1 * 0.4 + 0.5 * 0.4
    )


async def test_no_speech_means_nothing_to_align(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Like the engine: no segments, no alignment (and no aligner loaded)."""
    base = sim.url("whisperx")
    await control(session, base, rtf=0.0, align_rtf=0.5, aligner_load_s=0.2, transcript="")
    assert await gpu_seconds(session, base, TRANSCRIBE, word_form(0.4)) == 0
    assert sim.states["whisperx"].loaded_aligners == set()


async def test_first_use_of_an_aligner_loads_it(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Each language's first aligning job pays aligner_load_s; a restart forgets them all."""
    base = sim.url("whisperx")
    await control(session, base, rtf=0.0, align_rtf=0.0, aligner_load_s=0.2)
    assert await gpu_seconds(session, base, TRANSCRIBE, word_form(0.3, language="de")) == 0.2
    assert await gpu_seconds(session, base, TRANSCRIBE, word_form(0.3, language="de")) == 0
    # Without a language the detected one (the simulator's "en") is aligned.
    assert await gpu_seconds(session, base, SPEAKERS, upload(clip(0.3))) == 0.2
    assert await gpu_seconds(session, base, TRANSCRIBE, word_form(0.3, language="en")) == 0
    # A job that does not align loads nothing.
    assert await gpu_seconds(session, base, TRANSCRIBE, upload(clip(0.3), language="fr")) == 0
    async with session.get(f"{base}/_sim/state") as resp:
        assert (await resp.json())["loaded_aligners"] == ["de", "en"]
    async with session.post(f"{base}/_sim/restart") as resp:
        assert (await resp.json())["loaded_aligners"] == []
    assert await gpu_seconds(session, base, TRANSCRIBE, word_form(0.3, language="de")) == 0.2


async def test_jobs_queued_behind_the_load_find_the_aligner_loaded(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """Of two jobs sent together in a new language only the first loads its aligner."""
    base = sim.url("whisperx")
    await control(session, base, rtf=0.0, align_rtf=0.0, aligner_load_s=0.2)
    url = f"{base}{TRANSCRIBE}"
    results = await asyncio.gather(
        *(post_json(session, url, word_form(0.3, language="it")) for _ in range(2))
    )
    assert [status for status, _ in results] == [200, 200]
    assert sorted(r.gpu_s or 0 for r in sim.states["whisperx"].requests) == [0, 0.2]


@pytest.mark.parametrize("service", ["parakeet", "magpie", "whisperx"])
async def test_restart_loads_models_before_answering(
    sim: SparkSim, session: aiohttp.ClientSession, service: str
) -> None:
    """After a restart the service is down for restart_delay_s plus its load_s.

    The real containers load their models before they listen (uvicorn runs
    the app's start-up, then binds), so no /health answers "not loaded"
    meanwhile: connections fail, as the existing restart delay models.
    """
    base = sim.url(service)
    await control(session, base, load_s=0.3)
    state = sim.states[service]
    before = time.monotonic()
    async with session.post(f"{base}/_sim/restart", json={"restart_delay_s": 0.2}) as resp:
        assert (await resp.json())["down"] is True
    after = time.monotonic()
    assert state.down_until is not None
    assert before + 0.5 <= state.down_until <= after + 0.5
    health = "/v1/health/ready" if service == "magpie" else "/health"
    with pytest.raises(DROPPED):
        async with session.get(f"{base}{health}") as resp:
            await resp.read()
    # The stand-in for `docker restart` always posts a delay, often 0: the load still counts.
    async with session.post(f"{base}/_sim/restart", json={"restart_delay_s": 0}) as resp:
        assert (await resp.json())["down"] is True
    await control(session, base, load_s=0)
    async with session.post(f"{base}/_sim/restart") as resp:
        assert (await resp.json())["down"] is False
    async with session.get(f"{base}{health}") as resp:
        assert resp.status == 200


async def test_restart_drops_the_job_then_loads(
    sim: SparkSim, session: aiohttp.ClientSession
) -> None:
    """A long job is dropped by the restart; the next one only runs once loading is over."""
    base = sim.url("whisperx")
    await control(session, base, rtf=3600.0, load_s=0.3)
    job = asyncio.create_task(post_json(session, f"{base}{TRANSCRIBE}", upload(clip(1.0))))
    while not sim.gpu("whisperx").busy:
        await asyncio.sleep(0.01)
    async with session.post(f"{base}/_sim/restart") as resp:
        body = await resp.json()
    restarted = time.monotonic()
    assert body["dropped"] == 1
    with pytest.raises(DROPPED):
        await job
    sim.states["whisperx"].rtf = 0.0
    while True:
        try:
            status, _ = await post_json(session, f"{base}{TRANSCRIBE}", upload(clip(0.2)))
        except DROPPED:
            await asyncio.sleep(0.05)
            continue
        break
    assert status == 200
    assert time.monotonic() - restarted >= 0.3 - EARLY_S


async def test_timing_knobs_are_validated(sim: SparkSim, session: aiohttp.ClientSession) -> None:
    """Negative or non-numeric timing knobs are a 400, all-or-nothing."""
    base = sim.url("whisperx")
    for key in ("align_rtf", "aligner_load_s", "load_s"):
        for bad in (-1, True, "5"):
            async with session.post(f"{base}/_sim/control", json={"rtf": 0.5, key: bad}) as resp:
                assert resp.status == 400, (key, bad)
    assert sim.states["whisperx"].rtf == 0.1
    state = await control(session, base, align_rtf=0.02, aligner_load_s=8, load_s=45)
    assert (state["align_rtf"], state["aligner_load_s"], state["load_s"]) == (0.02, 8.0, 45.0)


async def _sim_states(*args: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Start `python -m tests.spark_sim` as scripts/develop does; each service's /_sim/state."""
    ports_file = tmp_path / "ports.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.spark_sim",
        "--parakeet-port=0",
        "--magpie-port=0",
        "--whisperx-port=0",
        f"--ports-file={ports_file}",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        while not ports_file.exists():
            assert process.returncode is None, "the simulator exited"
            await asyncio.sleep(0.05)
        ports: dict[str, int] = json.loads(ports_file.read_text())
        states: dict[str, dict[str, Any]] = {}
        async with aiohttp.ClientSession() as client:
            for name, port in ports.items():
                async with client.get(f"http://127.0.0.1:{port}/_sim/state") as resp:
                    states[name] = await resp.json()
        return states
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.wait()


async def test_command_line_realistic_rates(tmp_path: Path) -> None:
    """`--realistic` (what `scripts/develop --realistic` passes) sets a real Spark's rates."""
    states = await _sim_states("--realistic", tmp_path=tmp_path)
    assert set(states) == set(REALISTIC)
    for name, knobs in REALISTIC.items():
        assert {key: states[name][key] for key in knobs} == knobs
    assert states["whisperx"]["align_rtf"] > 0
    assert states["whisperx"]["aligner_load_s"] > 0
    assert all(state["load_s"] > 0 for state in states.values())


async def test_command_line_default_rates(tmp_path: Path) -> None:
    """Without the flag the simulator answers at the tests' quick rates."""
    states = await _sim_states(tmp_path=tmp_path)
    assert states["whisperx"]["align_rtf"] == 0
    assert all(state["load_s"] == 0 for state in states.values())
    assert states["parakeet"]["rtf"] == 0.02
