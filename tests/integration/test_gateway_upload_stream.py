"""The upload stream: every chunk of the file once, counted and guarded, in one generator.

A connection stand-in hands out network chunks as a real one would (``readany``),
so the stream's own behaviour is checked without HTTP: what reaches the backend,
the fields after the file, a second read, a cut-off connection, the size cap.
"""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant

from custom_components.spark_audio.gateway.errors import GatewayError
from custom_components.spark_audio.gateway.multipart_raw import RawBody
from custom_components.spark_audio.gateway.upload import Upload
from custom_components.spark_audio.gateway.upload_form import UploadForm, read_form_head
from custom_components.spark_audio.transcription.errors import TranscriptionError
from custom_components.spark_audio.transcription.limits import UploadLimits

B = "streamBoundary42"
FILE = b"RIFF" + bytes(range(256)) * 600 + b"\r\n-- not the end"
MODEL = f'--{B}\r\nContent-Disposition: form-data; name="model"\r\n\r\nparakeet\r\n'.encode()
HEAD = f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'.encode()
FORMAT = f'\r\n--{B}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\ntext'.encode()
END = f"\r\n--{B}--\r\n".encode()
LIMITS = UploadLimits(max_upload_bytes=1024 * 1024, max_concurrent_uploads=2)


class Connection:
    """A request body handed out in network chunks; ``fail_after`` chunks, then cut off."""

    def __init__(self, data: bytes, size: int = 4096, fail_after: int | None = None) -> None:
        self._chunks = [data[i : i + size] for i in range(0, len(data), size)][::-1]
        self._left = fail_after

    async def readany(self) -> bytes:
        if self._left is not None:
            if self._left == 0:
                raise ConnectionResetError("cut off")
            self._left -= 1
        return self._chunks.pop() if self._chunks else b""


async def _begin(hass: HomeAssistant, connection: Connection) -> tuple[Upload, UploadForm]:
    raw = RawBody(connection, B.encode())  # type: ignore[arg-type]
    form = await read_form_head(raw)
    upload = Upload(hass, LIMITS)
    await upload.begin(form, ("model",), raw, forward_early=True)
    return upload, form


async def test_sdk_order_streams_through_one_generator(hass: HomeAssistant) -> None:
    """Model first: the backend reads the file part itself, then the fields after it are in.

    Each chunk passes through ``_file_part`` over ``part_body`` and nothing else
    (before, four async generators and a helper coroutine per chunk).
    """
    upload, _ = await _begin(hass, Connection(MODEL + HEAD + FILE + FORMAT + END))
    assert upload.replayable()  # nothing sent yet: a failed connect may retry
    stream = upload.chunks()
    assert stream.ag_code.co_name == "_file_part"  # type: ignore[attr-defined]
    inner = stream.ag_frame.f_locals["source"]  # type: ignore[attr-defined]
    assert inner.ag_code.co_name == "part_body"
    received = b"".join([chunk async for chunk in stream])
    assert received == FILE
    assert upload.received == len(FILE)
    assert not upload.fields_pending
    assert not upload.replayable()  # one-shot: sent once, cannot be sent again
    with pytest.raises(GatewayError) as caught:
        async for _ in upload.chunks():
            pass
    assert (caught.value.status, caught.value.code) == (502, "backend_unreachable")
    await upload.close()


async def test_fields_after_the_file_are_read_before_the_stream_ends(hass: HomeAssistant) -> None:
    """The backend's form is complete only once the fields after the file are in the form."""
    upload, form = await _begin(hass, Connection(MODEL + HEAD + FILE + FORMAT + END))
    seen_pending = []
    async for _ in upload.chunks():
        seen_pending.append(form.get("response_format"))
    assert set(seen_pending) == {None}  # while the file streams, the later field is not read
    assert form.get("response_format") == "text"
    assert not upload.fields_pending
    await upload.close()


async def test_a_cut_off_upload_is_a_400_the_client_hears(hass: HomeAssistant) -> None:
    upload, _ = await _begin(hass, Connection(MODEL + HEAD + FILE + END, fail_after=4))
    with pytest.raises(GatewayError) as caught:
        async for _ in upload.chunks():
            pass
    assert (caught.value.status, caught.value.code) == (400, "truncated_upload")
    assert upload.error is caught.value
    await upload.close()


async def test_past_the_size_cap_the_stream_stops(hass: HomeAssistant) -> None:
    big = b"RIFF" + bytes(LIMITS.max_upload_bytes)
    upload, _ = await _begin(hass, Connection(MODEL + HEAD + big + END, size=64 * 1024))
    received = 0
    with pytest.raises(TranscriptionError) as caught:
        async for chunk in upload.chunks():
            received += len(chunk)
    assert caught.value.status == 413
    assert upload.error is caught.value
    assert received <= LIMITS.max_upload_bytes
    await upload.close()
