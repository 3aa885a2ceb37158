"""Our own reading of a form's non-file bytes sees the parts aiohttp's reader sees, however split.

The gateway reads everything that is not the file itself (to bound it) in one
scan, and builds the fields from it; it must agree with aiohttp's multipart reader
on where each part and the file begin and on every field's value. The reference
here is aiohttp's reader on the whole body.
"""

from __future__ import annotations

import asyncio
from unittest.mock import Mock

import pytest
from aiohttp import BodyPartReader, MultipartReader, hdrs
from aiohttp.streams import StreamReader

from custom_components.spark_audio.gateway import upload_form
from custom_components.spark_audio.gateway.errors import GatewayError
from custom_components.spark_audio.gateway.multipart_raw import (
    FormBudget,
    RawBody,
    read_fields_tail,
)
from custom_components.spark_audio.gateway.upload_form import read_fields_after, read_form_head

B = "scanBoundary42"
FIELD = f'--{B}\r\nContent-Disposition: form-data; name="model"\r\n\r\nparakeet\r\n'
FILE = f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
AUDIO = b"RIFF\x00\x01audio\r\n-- not the end --" + B.encode() + b" still audio"
END = f"\r\n--{B}--\r\n"
BODIES = {
    "plain": FIELD + FILE,
    "preamble": "a preamble line\r\nand --another\r\n" + FIELD + FILE,
    "file first": FILE,
    "bare LF line ends": FIELD.replace("\r\n\r\n", "\n\n") + FILE,
    "spaces after the delimiter": FIELD.replace(f"--{B}\r\n", f"--{B}  \r\n") + FILE,
    "empty field": f'--{B}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n\r\n'
    + FIELD
    + FILE,
    "boundary text inside a field": f'--{B}\r\nContent-Disposition: form-data; name="prompt"'
    f"\r\n\r\nsay --{B} and x--{B}\r\n" + FIELD + FILE,
    "several headers": f"--{B}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    f'Content-Disposition: form-data; name="language"\r\n\r\nen\r\n' + FILE,
    "file part named in another way": f"--{B}\r\nContent-Disposition: form-data; "
    "name*=UTF-8''file; filename=\"b.wav\"\r\n\r\n",
}


def _stream(pieces: list[bytes]) -> StreamReader:
    stream = StreamReader(Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    for piece in pieces:
        if piece:
            stream.feed_data(piece)
    stream.feed_eof()
    return stream


async def _reference(data: bytes) -> tuple[dict[str, list[str]], bytes]:
    """aiohttp's reading of the whole body: the fields, and what follows the file's headers."""
    stream = _stream([data])
    reader = MultipartReader({hdrs.CONTENT_TYPE: f"multipart/form-data; boundary={B}"}, stream)
    fields: dict[str, list[str]] = {}
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        if part.name == "file":
            return fields, await stream.read()
        assert part.name is not None
        fields.setdefault(part.name, []).append(await part.text())
    raise AssertionError("aiohttp found no file part")


async def _ours(pieces: list[bytes]) -> tuple[dict[str, list[str]], bytes]:
    """The gateway's reading: our one scan of the raw stream."""
    content = _stream(pieces)
    raw = RawBody(content, B.encode())
    form = await read_form_head(raw)
    assert form.file is not None
    return form.fields, raw.head + await content.read()


@pytest.mark.parametrize("name", list(BODIES))
async def test_same_parts_as_aiohttp_however_split(name: str) -> None:
    """In one piece, byte by byte, and cut at every point of the form: aiohttp's answer."""
    data = BODIES[name].encode() + AUDIO + END.encode()
    expected = await _reference(data)
    assert await _ours([data]) == expected
    assert await _ours([data[i : i + 1] for i in range(len(data))]) == expected
    form_end = len(BODIES[name])
    for cut in range(1, form_end + 2):
        assert await _ours([data[:cut], data[cut:]]) == expected, cut


async def test_fields_after_the_file_are_read_whole() -> None:
    """The tail from the file's delimiter on, with its epilogue, split anywhere."""
    tail = f"--{B}\r\n".encode() + FIELD.encode()[len(f"--{B}\r\n") :] + END.encode()[2:]
    tail += b"an epilogue"
    for cut in range(len(tail) + 1):
        raw = RawBody(_stream([tail[cut:]]), B.encode())
        parts = await read_fields_tail(raw, tail[:cut])
        assert [(p.headers[hdrs.CONTENT_DISPOSITION], p.body) for p in parts] == [
            ('form-data; name="model"', b"parakeet")
        ]
        assert raw.budget.left == raw.budget.limit - len(tail)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (f"--{B}\r\nContent-Disposition: form-data; name=", "truncated_upload"),
        (FIELD + f"--{B}", "truncated_upload"),
        (
            f'--{B}\r\nContent-Disposition: form-data; name="model"\r\n\r\nen\r\n--{B}x\r\n',
            "bad_multipart",
        ),
        (f"--{B}\r\nbroken header line\r\n\r\n", "bad_multipart"),
        ("no boundary anywhere\r\n", "truncated_upload"),
    ],
    ids=["in headers", "after a delimiter", "bad delimiter line", "bad header", "no boundary"],
)
async def test_broken_forms_are_400s(data: str, code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        await read_form_head(RawBody(_stream([data.encode()]), B.encode()))
    assert caught.value.status == 400
    assert caught.value.code == code


async def test_budget_counts_only_what_is_not_the_file() -> None:
    """The file's first bytes, read along with the form, are not charged to the budget."""
    data = (FIELD + FILE).encode()
    budget = FormBudget(len(data))
    raw = RawBody(_stream([data + AUDIO * 1000]), B.encode(), budget=budget)
    await read_form_head(raw)
    assert budget.left == 0
    assert raw.head.startswith(AUDIO)
    with pytest.raises(GatewayError) as caught:
        await read_form_head(RawBody(_stream([data]), B.encode(), budget=FormBudget(len(data) - 1)))
    assert caught.value.status == 413


async def test_one_reader_for_every_part_disposition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each part's disposition is read once, by the scan that finds the file part.

    Spied rather than faked: the real reader runs; the spy only records its
    calls. The form is not read a second time (as it was with aiohttp's reader).
    """
    seen: list[str | None] = []
    real = upload_form.read_disposition

    def spy(header: str | None) -> tuple[str | None, str | None]:
        seen.append(header)
        return real(header)

    monkeypatch.setattr(upload_form, "read_disposition", spy)
    body = BODIES["file part named in another way"]
    fields, _ = await _ours([(FIELD + body).encode() + AUDIO + END.encode()])
    assert fields == {"model": ["parakeet"]}
    field_header = 'form-data; name="model"'
    file_header = "form-data; name*=UTF-8''file; filename=\"b.wav\""
    assert seen == [field_header, file_header]


async def test_charset_field_sets_the_default_charset() -> None:
    """RFC 7578 4.6: ``_charset_`` names the charset of the fields after it without their own."""
    data = (
        f'--{B}\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\niso-8859-1\r\n'
        f'--{B}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\ncaf\xe9\r\n'
        f"--{B}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f'Content-Disposition: form-data; name="language"\r\n\r\nd\xc3\xa9\r\n'
    ).encode("latin-1")
    fields, _ = await _ours([data + FILE.encode() + AUDIO + END.encode()])
    assert fields == {"prompt": ["café"], "language": ["dé"]}


@pytest.mark.parametrize(
    ("where", "data"),
    [
        ("before the file", f"--{B}\r\nContent-Type: multipart/mixed; boundary=inner\r\n"
         f'Content-Disposition: form-data; name="model"\r\n\r\n--inner--\r\n' + FILE),
        ("as the file", FILE.replace("\r\n\r\n", "\r\nContent-Type: Multipart/Mixed\r\n\r\n")),
    ],
)  # fmt: skip
async def test_nested_multipart_is_a_400(where: str, data: str) -> None:
    """aiohttp's reader would hand a nested multipart over as a reader of its own: refused."""
    with pytest.raises(GatewayError) as caught:
        await read_form_head(RawBody(_stream([data.encode() + AUDIO]), B.encode()))
    assert (caught.value.status, caught.value.code) == (400, "bad_multipart"), where
    assert "Nested" in caught.value.message


async def test_field_after_the_file_checked_like_one_before() -> None:
    """The tail's fields go through the same checks: here a field past the size cap."""
    tail = (
        f'--{B}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
        + "p" * (upload_form.MAX_FIELD_BYTES + 1)
        + f"\r\n--{B}--\r\n"
    ).encode()
    form = upload_form.UploadForm()
    with pytest.raises(GatewayError) as caught:
        await read_fields_after(RawBody(_stream([tail]), B.encode()), b"", form)
    assert (caught.value.status, caught.value.code) == (400, "field_too_large")
