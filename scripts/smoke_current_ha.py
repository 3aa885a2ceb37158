"""Drive a real, running Home Assistant the way a new user does; run by scripts/smoke-current-ha.

Why: no test harness exists yet for the current HA release, so this exercises the integration on
it from outside, over HA's own REST API: onboarding, the config flow, STT (/api/stt), TTS
(/api/tts_get_url and the audio), the OpenAI-compatible gateway with the official openai SDK, and a
deep-check button press whose effect is checked. Any failure raises; stdout says what was covered.

Usage: python scripts/smoke_current_ha.py HA_URL PARAKEET_PORT MAGPIE_PORT WHISPERX_PORT WAV_FILE
       python scripts/smoke_current_ha.py --check-log HOME_ASSISTANT_LOG
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from openai import AsyncOpenAI

COVERED: list[str] = []
TIMEOUT_S = 60.0


class SmokeError(Exception):
    """A step did not do what a user would expect."""


def covered(what: str) -> None:
    COVERED.append(what)
    print(f"  ok  {what}", flush=True)


async def expect_json(resp: aiohttp.ClientResponse, what: str, status: int = 200) -> Any:
    if resp.status != status:
        raise SmokeError(f"{what}: HTTP {resp.status}: {(await resp.text())[:500]}")
    return await resp.json()


async def wait_until(what: str, check: Any) -> Any:
    """Poll ``check`` (an async callable returning a truthy result) until it holds."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        if result := await check():
            return result
        if time.monotonic() > deadline:
            raise SmokeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def onboard(session: aiohttp.ClientSession, ha: str) -> str:
    """Create the owner, log in, finish every onboarding step; return an access token."""
    client_id = f"{ha}/"
    steps = await expect_json(await session.get(f"{ha}/api/onboarding"), "onboarding status")
    if any(s["step"] == "user" and s["done"] for s in steps):
        raise SmokeError("this Home Assistant is already onboarded (config dir not fresh)")
    user = await expect_json(
        await session.post(
            f"{ha}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": "Smoke",
                "username": "smoke",
                "password": "smoke-test-password",  # a throwaway instance
                "language": "en",
            },
        ),
        "onboarding: create user",
    )
    token = await expect_json(
        await session.post(
            f"{ha}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": user["auth_code"],
                "client_id": client_id,
            },
        ),
        "login (auth code -> token)",
    )
    access = str(token["access_token"])
    auth = {"Authorization": f"Bearer {access}"}
    await expect_json(
        await session.post(f"{ha}/api/onboarding/core_config", headers=auth, json={}),
        "onboarding: core config",
    )
    await expect_json(
        await session.post(f"{ha}/api/onboarding/analytics", headers=auth, json={}),
        "onboarding: analytics",
    )
    await expect_json(
        await session.post(
            f"{ha}/api/onboarding/integration",
            headers=auth,
            json={"client_id": client_id, "redirect_uri": f"{ha}/?auth_callback=1"},
        ),
        "onboarding: integration step",
    )
    steps = await expect_json(await session.get(f"{ha}/api/onboarding"), "onboarding status")
    if not all(s["done"] for s in steps):
        raise SmokeError(f"onboarding not finished: {steps}")
    covered("onboarding over REST (user, login, core config, analytics, integration)")
    return access


async def config_flow(
    session: aiohttp.ClientSession, ha: str, auth: dict[str, str], ports: dict[str, int]
) -> str:
    """Add the Spark through the config flow, as the UI does; return the entry id."""
    flow = await expect_json(
        await session.post(
            f"{ha}/api/config/config_entries/flow",
            headers=auth,
            json={"handler": "spark_audio", "show_advanced_options": False},
        ),
        "config flow: start",
    )
    if flow.get("type") != "form" or flow.get("step_id") != "user":
        raise SmokeError(f"config flow: expected the user form, got {flow}")
    fields = {f["name"] for f in flow["data_schema"]}
    data: dict[str, Any] = {"host": "127.0.0.1", "ssh": {}}
    for service, port in ports.items():
        data[f"{service}_enabled"] = True
        data[f"{service}_port"] = port
    if not set(data) <= fields:
        raise SmokeError(f"config flow: form fields {sorted(fields)} lack {set(data) - fields}")
    result = await expect_json(
        await session.post(
            f"{ha}/api/config/config_entries/flow/{flow['flow_id']}", headers=auth, json=data
        ),
        "config flow: submit",
    )
    if result.get("type") != "create_entry":
        raise SmokeError(f"config flow: expected an entry, got {result}")
    entry_id = str(result["result"]["entry_id"])

    async def loaded() -> bool:
        entries = await expect_json(
            await session.get(f"{ha}/api/config/config_entries/entry", headers=auth),
            "config entries",
        )
        states = {e["entry_id"]: e["state"] for e in entries}
        if states.get(entry_id) in {"setup_error", "setup_retry", "failed_unload"}:
            raise SmokeError(f"config entry state {states[entry_id]}")
        return states.get(entry_id) == "loaded"

    await wait_until("the config entry to load", loaded)
    covered("config flow over REST (form, submit, entry loaded)")
    return entry_id


async def states(session: aiohttp.ClientSession, ha: str, auth: dict[str, str]) -> list[Any]:
    return list(await expect_json(await session.get(f"{ha}/api/states", headers=auth), "states"))


async def entity(
    session: aiohttp.ClientSession, ha: str, auth: dict[str, str], domain: str, *parts: str
) -> str:
    """The entity id in ``domain`` containing every one of ``parts`` (waits for it to appear)."""

    async def find() -> str | None:
        for state in await states(session, ha, auth):
            eid = str(state["entity_id"])
            if eid.startswith(f"{domain}.") and all(p in eid for p in parts):
                return eid
        return None

    return str(await wait_until(f"an entity {domain}.*{'*'.join(parts)}*", find))


async def stt(session: aiohttp.ClientSession, ha: str, auth: dict[str, str], wav: bytes) -> None:
    """Speech to text through HA's own STT endpoint, as Assist sends it."""
    stt_entity = await entity(session, ha, auth, "stt", "parakeet")
    info = await expect_json(
        await session.get(f"{ha}/api/stt/{stt_entity}", headers=auth), "STT: capabilities"
    )
    if "en-US" not in info.get("languages", []) and "en" not in info.get("languages", []):
        raise SmokeError(f"STT: no English in {info}")
    language = "en-US" if "en-US" in info["languages"] else "en"
    result = await expect_json(
        await session.post(
            f"{ha}/api/stt/{stt_entity}",
            headers={
                **auth,
                "X-Speech-Content": (
                    f"format=wav; codec=pcm; sample_rate=16000; bit_rate=16; channel=1; "
                    f"language={language}"
                ),
            },
            data=wav,
        ),
        "STT: transcribe",
    )
    if result.get("result") != "success" or not result.get("text"):
        raise SmokeError(f"STT: {result}")
    covered(f"STT through /api/stt/{stt_entity}: {result['text']!r}")


async def tts(session: aiohttp.ClientSession, ha: str, auth: dict[str, str]) -> None:
    """Text to speech through tts_get_url, then fetch the audio as a media player would."""
    tts_entity = await entity(session, ha, auth, "tts", "magpie")
    url = await expect_json(
        await session.post(
            f"{ha}/api/tts_get_url",
            headers=auth,
            json={"engine_id": tts_entity, "message": "Hello from the smoke test.", "cache": False},
        ),
        "TTS: tts_get_url",
    )
    async with session.get(url["url"]) as resp:
        audio = await resp.read()
        if resp.status != 200 or len(audio) < 1000:
            raise SmokeError(f"TTS: fetching {url['url']}: HTTP {resp.status}, {len(audio)} bytes")
        kind = resp.headers.get("Content-Type", "")
    if not kind.startswith("audio/"):
        raise SmokeError(f"TTS: audio served as {kind!r}")
    covered(f"TTS through /api/tts_get_url ({tts_entity}) and the audio ({kind}, {len(audio)} B)")


async def gateway(ha: str, access: str, wav: bytes) -> None:
    """The OpenAI-compatible gateway with the official SDK, as Open WebUI uses it."""
    client = AsyncOpenAI(base_url=f"{ha}/api/spark_audio/v1", api_key=access, max_retries=0)
    async with client:
        models = [m.id for m in (await client.models.list()).data]
        if "parakeet-tdt-0.6b-v3" not in models or "magpie" not in models:
            raise SmokeError(f"gateway: models {models}")
        covered(f"gateway models.list ({len(models)} models)")
        speech = await client.audio.speech.create(
            model="tts-1", voice="nova", input="Hello gateway.", response_format="wav"
        )
        audio = speech.content
        if audio[:4] != b"RIFF" or len(audio) < 1000:
            raise SmokeError(f"gateway speech: not a WAV ({len(audio)} bytes)")
        covered(f"gateway audio.speech.create (WAV, {len(audio)} B)")
        text = await client.audio.transcriptions.create(
            model="parakeet-tdt-0.6b-v3", file=("hello.wav", wav, "audio/wav")
        )
        if not text.text:
            raise SmokeError("gateway transcription: empty text")
        covered(f"gateway audio.transcriptions.create: {text.text!r}")


async def deep_check(
    session: aiohttp.ClientSession, ha: str, auth: dict[str, str], parakeet_port: int
) -> None:
    """Press Parakeet's deep-check button while it is wedged: the wedge sensor must turn on.

    The background deep check runs every few minutes, so within this run only the press can
    have found the wedge; a second press after the cure must clear it.
    """
    button = await entity(session, ha, auth, "button", "parakeet", "deep_check")
    wedged = await entity(session, ha, auth, "binary_sensor", "parakeet", "wedge")
    sim = f"http://127.0.0.1:{parakeet_port}/_sim/control"

    async def state_is(value: str) -> bool:
        resp = await session.get(f"{ha}/api/states/{wedged}", headers=auth)
        return (await expect_json(resp, wedged))["state"] == value

    async def press() -> None:
        await expect_json(
            await session.post(
                f"{ha}/api/services/button/press", headers=auth, json={"entity_id": button}
            ),
            f"press {button}",
        )

    await wait_until(f"{wedged} off after the first deep check", lambda: state_is("off"))
    await expect_json(await session.post(sim, json={"fault": "wedge"}), "simulator: wedge")
    try:
        await press()
        await wait_until(f"{wedged} on after pressing {button}", lambda: state_is("on"))
    finally:
        await expect_json(await session.post(sim, json={"fault": "none"}), "simulator: cure")
    await press()
    await wait_until(f"{wedged} off after the cure and a second press", lambda: state_is("off"))
    covered(f"deep check button ({button}) found a wedge ({wedged} on) and its cure (off)")


async def main(ha: str, ports: dict[str, int], wav: bytes) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
        access = await onboard(session, ha)
        auth = {"Authorization": f"Bearer {access}"}
        config = await expect_json(await session.get(f"{ha}/api/config", headers=auth), "config")
        print(f"  Home Assistant {config['version']}", flush=True)
        await config_flow(session, ha, auth, ports)
        await stt(session, ha, auth, wav)
        await tts(session, ha, auth)
        await gateway(ha, access, wav)
        await deep_check(session, ha, auth, ports["parakeet"])


def check_log(path: Path) -> None:
    """Fail on any ERROR/CRITICAL record naming spark_audio (logger, message or traceback)."""
    records: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line):
            records.append([])
        records[-1].append(line)
    bad = [
        text
        for text in ("".join(r) for r in records)
        if re.match(r"\S+ \S+ (ERROR|CRITICAL) ", text) and "spark_audio" in text
    ]
    for text in bad:
        print(text, end="", file=sys.stderr)
    if bad:
        sys.exit(f"{len(bad)} ERROR record(s) about spark_audio in Home Assistant's log")
    covered(f"no ERROR records about spark_audio in {path.name}")


if __name__ == "__main__":
    if sys.argv[1] == "--check-log":
        check_log(Path(sys.argv[2]))
        sys.exit(0)
    url, parakeet, magpie, whisperx, wav_file = sys.argv[1:6]
    asyncio.run(
        main(
            url,
            {"parakeet": int(parakeet), "magpie": int(magpie), "whisperx": int(whisperx)},
            Path(wav_file).read_bytes(),
        )
    )
