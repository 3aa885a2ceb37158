"""The languages Whisper knows, so an unknown one is refused before any GPU work.

The real list comes from faster-whisper's tokenizer when it is importable (in
the image); the vendored copy keeps the app and its tests free of the ML stack.
The engine lane checks that both agree.
"""

from __future__ import annotations

# faster-whisper 1.2.1 `faster_whisper.tokenizer._LANGUAGE_CODES`.
VENDORED: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca",
    "cs", "cy", "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr",
    "gl", "gu", "ha", "haw", "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it",
    "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv",
    "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no",
    "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "sn",
    "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr",
    "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip


def _library_codes() -> tuple[str, ...] | None:
    try:
        from faster_whisper.tokenizer import (  # type: ignore[import-not-found]
            _LANGUAGE_CODES,
        )
    except ImportError:
        return None
    return tuple(_LANGUAGE_CODES)


LANGUAGES: frozenset[str] = frozenset(_library_codes() or VENDORED)
