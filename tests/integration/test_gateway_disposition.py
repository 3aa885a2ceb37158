"""The gateway's fast Content-Disposition reading gives exactly what aiohttp's parser gives."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from multidict import CIMultiDict

from custom_components.spark_audio.gateway import upload_form
from custom_components.spark_audio.gateway.upload_form import read_disposition


class Part:
    """A part's name and filename computed as aiohttp's BodyPartReader computes them.

    A stand-in because a real part needs a live stream; its ``name`` and ``filename`` are
    aiohttp's own functions, so the comparison is against the real parser.
    """

    def __init__(self, header: str | None) -> None:
        self.headers: CIMultiDict[str] = CIMultiDict()
        if header is not None:
            self.headers["Content-Disposition"] = header
        self.parsed = False

    def _param(self, key: str) -> str | None:
        self.parsed = True
        _, params = parse_content_disposition(self.headers.get("Content-Disposition"))
        return content_disposition_filename(params, key)

    @property
    def name(self) -> str | None:
        return self._param("name")

    @property
    def filename(self) -> str | None:
        return self._param("filename")


PLAIN = [
    'form-data; name="model"',
    'form-data; name="file"; filename="speech.wav"',
    'form-data;name="file";filename="a b.mp3"',
    'form-data; filename="x.wav"; name="file"',
    'form-data; name="file"; filename="/etc/passwd"',
    'form-data; name="file"; filename="Küchenlicht.wav"',
    'form-data; name=""',
    'form-data; name="timestamp_granularities[]"',
]
UNUSUAL = [
    None,
    "",
    "form-data",
    'form-data; name="a"; name="b"',
    'form-data; NAME="model"',
    "form-data; name=model",
    'form-data; name="a\\"b"',
    'form-data; name="a;b"',
    "form-data; name*=UTF-8''K%C3%BCche",
    "form-data; name=\"file\"; filename*=UTF-8''a%00.wav",
    'form-data; name="mo\x00del"',
    'attachment; name="model"',
    'form-data; name="model"; size=3',
    'form-data; name="file"; filename="\\\\server\\share.wav"',
]


# aiohttp warns about the malformed ones while it parses them, as it should.
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader")
@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionParam")
@pytest.mark.parametrize("header", [*PLAIN, *UNUSUAL])
def test_same_as_aiohttp(header: str | None) -> None:
    reference = Part(header)
    expected = (reference.name, reference.filename)
    assert read_disposition(header) == expected


@pytest.mark.parametrize("header", PLAIN)
def test_plain_headers_skip_aiohttp(header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: what every client sends never reaches aiohttp's slow parser."""
    parsed: list[Any] = []
    real = parse_content_disposition

    def spy(value: str | None) -> Any:
        parsed.append(value)
        return real(value)

    monkeypatch.setattr(upload_form, "parse_content_disposition", spy)
    assert read_disposition(header) == (Part(header).name, Part(header).filename)
    assert not parsed
