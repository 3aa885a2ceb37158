"""Text-to-speech with Magpie, streamed sentence by sentence."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.components.tts import TextToSpeechEntity, TtsAudioType
from homeassistant.components.tts import Voice as TtsVoice
from homeassistant.components.tts.entity import TTSAudioRequest, TTSAudioResponse
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import ATTR_VOICE, CONF_DEFAULT_VOICE, DEFAULT_VOICE, DOMAIN
from .coordinator import SparkServiceCoordinator
from .data import SparkAudioConfigEntry
from .entity import SparkAudioEntity, spark_error_to_ha
from .provided import async_add_provided
from .spark import MagpieClient, SparkError, Voice, VoiceCatalog
from .spark.clients.magpie import DEFAULT_SAMPLE_RATE, MAX_TEXT_CHARS
from .spark.clients.magpie_sentences import split_sentences, stream_sentences
from .spark.wav import read_wav, wav_header

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """The Magpie TTS entity, when Magpie is configured."""
    entities = []
    if (coordinator := entry.runtime_data.magpie) is not None:
        default_voice = entry.options.get(CONF_DEFAULT_VOICE, DEFAULT_VOICE)
        entities.append(MagpieTextToSpeechEntity(coordinator, default_voice))
    async_add_provided(entry, Platform.TTS, async_add_entities, entities)


class MagpieTextToSpeechEntity(SparkAudioEntity[MagpieClient], TextToSpeechEntity):
    """Assist TTS backed by the Magpie NIM; languages and voices come from the NIM."""

    _attr_translation_key = "tts"
    _attr_supported_options = [ATTR_VOICE]  # noqa: RUF012 (HA declares it an instance attribute)

    def __init__(
        self, coordinator: SparkServiceCoordinator[MagpieClient], default_voice: str
    ) -> None:
        """Speak with ``default_voice`` unless a request names another."""
        super().__init__(coordinator, "tts")
        self._default_voice = default_voice

    @property
    def _client(self) -> MagpieClient:
        return self.coordinator.client

    @property
    def _catalog(self) -> VoiceCatalog:
        data = self.coordinator.data
        if data is None or data.voices is None:
            return VoiceCatalog(languages=(), voices=())
        return data.voices

    @property
    def supported_languages(self) -> list[str]:
        """The locales the live voice list offers."""
        return list(self._catalog.languages)

    @property
    def default_language(self) -> str:
        """The default voice's language, when the NIM offers it."""
        voice = Voice.parse(self._default_voice)
        languages = self._catalog.languages
        if voice is not None and (voice.language in languages or not languages):
            return voice.language
        return languages[0] if languages else "en-US"

    @property
    def default_options(self) -> dict[str, Any]:
        """The configured default voice (used when it speaks the asked language)."""
        return {ATTR_VOICE: self._default_voice}

    def async_get_supported_voices(self, language: str) -> list[TtsVoice] | None:
        """Every voice (emotion variants included) for ``language``."""
        voices = self._catalog.voices_for(language)
        return [TtsVoice(v.name, v.display_name) for v in voices] or None

    def _pick_voice(self, language: str, options: dict[str, Any]) -> Voice:
        """The voice for a request: the asked one, else the default, else any of the language.

        The default voice only applies when it speaks the asked language: HA
        merges default options into every request, whatever its language.
        """
        catalog = self._catalog
        asked = options.get(ATTR_VOICE)
        if asked and asked != self._default_voice:
            if (voice := catalog.get(str(asked))) is not None:
                return voice
            raise self._unknown_voice(str(asked), language)
        default = catalog.get(self._default_voice)
        if default is not None and default.language.lower() == language.lower():
            return default
        if candidates := catalog.voices_for(language):
            return candidates[0]
        raise self._unknown_voice(str(asked or self._default_voice), language)

    def _unknown_voice(self, voice: str, language: str) -> HomeAssistantError:
        available = self._catalog.voices_for(language) or self._catalog.voices
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="unknown_voice",
            translation_placeholders={
                "voice": voice,
                "language": language,
                "available": ", ".join(v.name for v in available) or "none",
            },
        )

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        """The whole message as one WAV, synthesized a sentence at a time."""
        voice = self._pick_voice(language, options)
        pcm = bytearray()
        sample_rate = DEFAULT_SAMPLE_RATE
        try:
            for sentence in split_sentences(message, MAX_TEXT_CHARS):
                wav = await self._client.synthesize(
                    sentence, voice=voice.name, language=voice.language
                )
                audio = read_wav(wav)
                sample_rate = audio.sample_rate
                pcm += audio.pcm
        except SparkError as err:
            raise spark_error_to_ha(err, self.coordinator) from err
        except ValueError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="bad_audio",
                translation_placeholders={"error": str(err)},
            ) from err
        return "wav", wav_header(sample_rate, data_size=len(pcm)) + bytes(pcm)

    async def async_stream_tts_audio(self, request: TTSAudioRequest) -> TTSAudioResponse:
        """One WAV stream; each sentence is spoken as soon as its text is complete."""
        voice = self._pick_voice(request.language, request.options)
        return TTSAudioResponse("wav", self._stream(request.message_gen, voice))

    async def _stream(
        self, message_gen: AsyncGenerator[str], voice: Voice
    ) -> AsyncGenerator[bytes]:
        yield wav_header(DEFAULT_SAMPLE_RATE)
        try:
            async for sentence in stream_sentences(message_gen, MAX_TEXT_CHARS):
                async for chunk in self._client.synthesize_online(
                    sentence, voice=voice.name, language=voice.language
                ):
                    yield chunk
        except SparkError as err:
            raise spark_error_to_ha(err, self.coordinator) from err
