"""The parts of an OpenAI-style multipart upload: bounded, strict, always a clear 400.

Any HA user can call the gateway, so nothing a client sends may grow memory
without bound (every non-file byte is read by ``multipart_raw`` under one
budget; fields are capped in size and number) or escape as a bare 500 (unknown
charsets and transfer encodings, names the outbound form cannot carry and
conflicting fields are refused up front).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from .errors import bad_request
from .multipart_raw import (
    Headers,
    RawBody,
    RawPart,
    checked_boundary,
    read_fields_head,
    read_fields_tail,
)

FILE_FIELD = "file"
CHARSET_FIELD = "_charset_"
"""RFC 7578 4.6: a field that names the charset of the fields without one."""
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 64
MAX_FILENAME_CHARS = 255

type Disposition = tuple[str | None, str | None]
"""A part's name and filename."""
# RFC 7578 deprecates Content-Transfer-Encoding; only the identity forms are accepted.
_IDENTITY_ENCODINGS = frozenset({"", "binary", "7bit", "8bit", "identity"})
# Playlists announce themselves by type too; they never reach ffmpeg or a backend.
PLAYLIST_TYPES = frozenset(
    {
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "audio/x-mpegurl",
        "audio/x-scpls",
        "application/dash+xml",
        "video/vnd.mpeg.dash.mpd",
        "application/smil+xml",
        "video/x-ms-asf-plugin",
        "audio/x-ms-asx",
    }
)
# A MIME type's ``type/subtype`` (RFC 9110 tokens): all the file's type a backend is told.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# ``form-data`` with quoted name / filename holding no quote, backslash, control character or
# semicolon: what every client sends. Anything else goes to aiohttp's full parser.
_PLAIN_DISPOSITION = re.compile(r'form-data(?:;[ ]?(?:name|filename)="[^"\\\x00-\x1f\x7f;]*")+')
_PLAIN_PARAM = re.compile(r'(name|filename)="([^"]*)"')
# Text that makes ffmpeg (or a backend's ffmpeg) open other files or URLs.
_REFERENCE_MARKERS = (
    b"#EXTM3U",
    b"#EXTINF",
    b"ffconcat",
    b"[playlist]",
    b"<?xml",
    b"<smil",
    b"<asx",
    b"<mpd",
    b"[reference]",
    b"file '",
    b"file:",
    b"http://",
    b"https://",
)
_LOWER_MARKERS = tuple(marker.lower() for marker in _REFERENCE_MARKERS)
_MARKER_BYTES = max(map(len, _LOWER_MARKERS))
# Control characters, which no filename a backend is sent may hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class UploadForm:
    """The text fields of a multipart request, and its file part when reached."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    file: RawPart | None = None
    filename: str = "audio"
    content_type: str = "application/octet-stream"
    count: int = 0
    charset: str = "utf-8"
    """What a field without a charset of its own is decoded as (RFC 7578's ``_charset_``)."""

    def get(self, name: str) -> str | None:
        """The last value sent for ``name``."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """A field that must be one of ``choices``; a 400 naming it otherwise."""
        value = self.get(name) or default
        if value not in choices:
            raise bad_request(f"{name} must be one of {', '.join(choices)}", param=name)
        return value


async def open_form(request: web.Request) -> tuple[UploadForm, RawBody]:
    """Read text fields up to the file part, whose body stays unread in the returned ``RawBody``."""
    if request.content_type != "multipart/form-data":
        raise bad_request(
            "Expected a multipart/form-data body (fields and a 'file' part), "
            f"not {request.content_type or 'no content type'}",
            code="bad_multipart",
        )
    mimetype = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, ""))
    raw = RawBody(request.content, checked_boundary(mimetype.parameters.get("boundary")))
    return await read_form_head(raw), raw


async def read_form_head(raw: RawBody) -> UploadForm:
    """The fields before the file part and the part itself; its first bytes go to ``raw.head``.

    Read from ``multipart_raw``'s one scan: the dispositions it read to find the
    file part are the ones the fields are named by.
    """
    names: list[Disposition] = []

    def is_file(headers: Headers) -> bool:
        names.append(found := read_disposition(headers.get(hdrs.CONTENT_DISPOSITION)))
        return found[0] == FILE_FIELD

    fields, file = await read_fields_head(raw, is_file)
    form = UploadForm()
    add_parts(form, [*fields, file] if file is not None else fields, names)
    return form


async def read_fields_after(raw: RawBody, after: bytes, form: UploadForm) -> None:
    """The fields a client sent after the file part, under the same budget as the ones before."""
    parts = await read_fields_tail(raw, after)
    add_parts(form, parts, [part_disposition(part) for part in parts])


def part_disposition(part: RawPart) -> Disposition:
    """A part's name and filename (see ``read_disposition``)."""
    return read_disposition(part.headers.get(hdrs.CONTENT_DISPOSITION))


def add_parts(form: UploadForm, parts: list[RawPart], names: list[Disposition]) -> None:
    """Check each part and add it to ``form``: a text field, or the one file part.

    Every refusal aiohttp's multipart reader would have made (a nested
    multipart, an encoding it would decode or fail on) is made here, as a 400.
    """
    for part, (name, filename) in zip(parts, names, strict=False):
        _check_part_headers(part.headers)
        if not name:
            raise bad_request("A multipart part has no name", code="bad_multipart")
        if "\x00" in name:
            raise bad_request("A part name contains a NUL character", code="bad_multipart")
        if name == FILE_FIELD:
            if form.file is not None:
                raise bad_request("Send exactly one 'file' part", param=FILE_FIELD)
            _take_file(form, part, filename)
            continue
        form.count += 1
        if form.count > MAX_FIELDS:
            raise bad_request(
                f"At most {MAX_FIELDS} form fields are accepted", code="too_many_fields"
            )
        text = _field_text(part, name, form.charset)
        if name == CHARSET_FIELD:
            form.charset = text.strip() or form.charset
            continue
        _add_field(form, name, text)


def _add_field(form: UploadForm, name: str, text: str) -> None:
    """Keep ``text``; a field sent again with another value is a 400 (which one was meant?).

    Only list fields (``name[]``, e.g. ``timestamp_granularities[]``) take several values.
    """
    values = form.fields.setdefault(name, [])
    if values and text not in values and not name.endswith("[]"):
        raise bad_request(
            f"The field {name!r} was sent more than once, with different values",
            param=name,
            code="conflicting_fields",
        )
    values.append(text)


def read_disposition(header: str | None) -> Disposition:
    """A part's name and filename from its Content-Disposition: plain ones read here.

    The one reader of a part's disposition, for the scan that finds the file
    part and for the fields. aiohttp's parser rebuilds a 128-character regex
    escape table on every call (a fifth of a gateway request's CPU); the plain
    ``form-data; name="..."`` every client sends needs none of it. Values come
    out exactly as aiohttp's; one it cannot decode is a 400.
    """
    if header is not None and (found := _plain_disposition(header)) is not None:
        return found
    try:
        _, params = parse_content_disposition(header)
        name = content_disposition_filename(params, "name")
        filename = content_disposition_filename(params, "filename")
    except (ValueError, LookupError) as err:  # an encoded name in no (known) charset
        raise bad_request(
            f"Malformed multipart body: {str(err).strip()[:200]}", code="bad_multipart"
        ) from err
    if filename is None and header is not None and _FILENAME_PARAM.search(header):
        # aiohttp 3.12+ drops a filename it cannot decode (3.11 raises): refuse it alike.
        raise bad_request(
            "Malformed multipart body: the part's filename cannot be decoded", code="bad_multipart"
        )
    return name, filename


_FILENAME_PARAM = re.compile(r";\s*filename(\*|\*?\d+\*?)?\s*=", re.IGNORECASE)


def _plain_disposition(header: str) -> Disposition | None:
    if _PLAIN_DISPOSITION.fullmatch(header):
        found = _PLAIN_PARAM.findall(header)
        params = {key: value.lstrip("\\/") for key, value in found}
        if len(params) == len(found):
            return params.get("name"), params.get("filename")
    return None


def _check_part_headers(headers: Headers) -> None:
    """Nested multiparts and encodings aiohttp would decode on the fly (or fail on): refused."""
    content_type = headers.get(hdrs.CONTENT_TYPE, "")
    if "multipart" in content_type.lower() and parse_mimetype(content_type).type == "multipart":
        raise bad_request("Nested multipart bodies are not supported", code="bad_multipart")
    transfer = headers.get(hdrs.CONTENT_TRANSFER_ENCODING, "").strip().lower()
    if transfer not in _IDENTITY_ENCODINGS:
        raise bad_request(
            f"Content-Transfer-Encoding {transfer!r} is not supported; send the bytes as they are",
            code="bad_transfer_encoding",
        )
    encoding = headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise bad_request(
            f"Content-Encoding {encoding!r} is not supported in a multipart part",
            code="bad_transfer_encoding",
        )


def _take_file(form: UploadForm, part: RawPart, filename: str | None) -> None:
    """The file part, its filename and its ``type/subtype``: what the backend's form can carry."""
    filename = filename or "audio"
    if len(filename) > MAX_FILENAME_CHARS or _CONTROL.search(filename) or not _is_utf8(filename):
        raise bad_request(
            f"The filename must be valid UTF-8 of at most {MAX_FILENAME_CHARS} characters, "
            "without control characters",
            param=FILE_FIELD,
            code="bad_filename",
        )
    content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
    media_type = content_type.split(";")[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(media_type) or not content_type.isascii():
        raise bad_request(
            "The file's Content-Type must be an ASCII type/subtype such as audio/wav",
            param=FILE_FIELD,
            code="bad_content_type",
        )
    if media_type in PLAYLIST_TYPES:
        raise bad_request(
            "Playlists are not accepted; upload the audio file itself",
            param=FILE_FIELD,
            code="playlist_not_allowed",
        )
    form.file = part
    form.filename = filename
    form.content_type = media_type


def _is_utf8(text: str) -> bool:
    """False for undecodable header bytes (aiohttp keeps them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_text(part: RawPart, name: str, default_charset: str) -> str:
    """A text field, at most ``MAX_FIELD_BYTES``, decoded strictly in its charset."""
    if len(part.body) > MAX_FIELD_BYTES:
        raise bad_request(
            f"The field {name!r} is longer than {MAX_FIELD_BYTES // 1024} KiB",
            param=name,
            code="field_too_large",
        )
    charset = default_charset
    if content_type := part.headers.get(hdrs.CONTENT_TYPE):
        charset = parse_mimetype(content_type).parameters.get("charset", default_charset)
    try:
        text = part.body.decode(charset)
    except LookupError as err:
        raise bad_request(
            f"The field {name!r} has an unknown charset {charset!r}",
            param=name,
            code="bad_charset",
        ) from err
    except UnicodeDecodeError as err:
        raise bad_request(
            f"The field {name!r} is not valid {charset}", param=name, code="bad_encoding"
        ) from err
    if "\x00" in text:
        raise bad_request(f"The field {name!r} contains a NUL character", param=name)
    return text


def reject_references(head: bytes) -> None:
    """Playlists, concat lists and other files that point at files are refused."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:_MARKER_BYTES].lower()
    if text.startswith(_LOWER_MARKERS):
        raise bad_request(
            "Playlists, concat lists and other files that refer to other files are not "
            "accepted; upload the audio itself",
            param=FILE_FIELD,
            code="playlist_not_allowed",
        )
