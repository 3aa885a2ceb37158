"""Speech-to-text for Assist: Parakeet and WhisperX, streamed while the user speaks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable

from homeassistant.components.stt import (
    AudioBitRates,
    AudioChannels,
    AudioCodecs,
    AudioFormats,
    AudioSampleRates,
    SpeechMetadata,
    SpeechResult,
    SpeechResultState,
    SpeechToTextEntity,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import (
    CONF_STT_LANGUAGE,
    CONF_STT_VOCABULARY,
    DEFAULT_STT_LANGUAGE,
    DEFAULT_STT_VOCABULARY,
    SERVICE_NAMES,
    SparkService,
)
from .coordinator import SparkServiceCoordinator
from .data import PARAKEET_SLOT, WHISPERX_SLOT, ServiceSlot, SparkAudioConfigEntry
from .entity import SparkAudioEntity, report_backend_fault
from .options_form import whisperx_default_language
from .provided import async_add_provided
from .recent_commands import async_keep_commands, keep_command
from .spark import SparkError
from .spark.clients import parakeet, whisperx
from .spark.clients.transcription import TEXT_ONLY, OpenAITranscriptionClient, TranscriptionOptions
from .spark.wav import wav_stream
from .speaker_identification import CommandIdentification
from .transcription.routing import offering
from .vocabulary import AssistVocabulary

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

STT_LANGUAGES: dict[SparkService, tuple[str, ...]] = {
    SparkService.PARAKEET: parakeet.LANGUAGES,
    SparkService.WHISPERX: whisperx.LANGUAGES,
}

STT_SLOTS: dict[SparkService, ServiceSlot[OpenAITranscriptionClient]] = {
    SparkService.PARAKEET: PARAKEET_SLOT,
    SparkService.WHISPERX: WHISPERX_SLOT,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SparkAudioConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """An STT entity per configured speech-to-text service."""
    options = entry.options
    default_language = {
        SparkService.PARAKEET: options.get(CONF_STT_LANGUAGE, DEFAULT_STT_LANGUAGE),
        SparkService.WHISPERX: whisperx_default_language(options),
    }
    vocabulary = options.get(CONF_STT_VOCABULARY, DEFAULT_STT_VOCABULARY)
    async_add_provided(
        entry,
        Platform.STT,
        async_add_entities,
        (
            SparkSpeechToTextEntity(
                coordinator, default_language[coordinator.service], vocabulary=vocabulary
            )
            for coordinator in (entry.runtime_data.parakeet, entry.runtime_data.whisperx)
            if coordinator is not None
        ),
    )


def backend_language(requested: str, supported: tuple[str, ...], default: str) -> str:
    """The language code to send: Assist's ``en-US`` becomes ``en``; never empty."""
    primary = requested.strip().split("-")[0].split("_")[0].lower()
    if primary in supported:
        return primary
    return default if default in supported else supported[0]


class SparkSpeechToTextEntity(SparkAudioEntity[OpenAITranscriptionClient], SpeechToTextEntity):
    """Assist STT backed by one Spark transcription service."""

    _attr_translation_key = "stt"

    def __init__(
        self,
        coordinator: SparkServiceCoordinator[OpenAITranscriptionClient],
        default_language: str,
        *,
        vocabulary: bool = DEFAULT_STT_VOCABULARY,
    ) -> None:
        """Serve the languages the service's model knows.

        ``vocabulary``: send Assist's names as the prompt, where the model takes one.
        """
        super().__init__(coordinator, "stt")
        self._languages = STT_LANGUAGES[coordinator.service]
        self._default_language = default_language
        self.vocabulary: AssistVocabulary | None = None
        if vocabulary and coordinator.client.accepts_prompt:
            self.vocabulary = AssistVocabulary(coordinator.hass)

    async def async_added_to_hass(self) -> None:
        """Follow exposure and name changes; keep the last commands if the Spark opted in."""
        await super().async_added_to_hass()
        entry = self.coordinator.config_entry
        self.async_on_remove(async_keep_commands(self.hass, entry, self.entity_id))
        if self.vocabulary is not None:
            self.async_on_remove(self.vocabulary.async_start())

    @property
    def supported_languages(self) -> list[str]:
        """Languages the model transcribes."""
        return list(self._languages)

    @property
    def supported_formats(self) -> list[AudioFormats]:
        """Assist sends WAV-framed PCM."""
        return [AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[AudioCodecs]:
        """Raw PCM only; we add the WAV header ourselves."""
        return [AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[AudioBitRates]:
        """16-bit samples, as Assist produces."""
        return [AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[AudioSampleRates]:
        """Any rate: the WAV header tells the backend, which resamples."""
        return list(AudioSampleRates)

    @property
    def supported_channels(self) -> list[AudioChannels]:
        """Mono or stereo."""
        return list(AudioChannels)

    async def async_process_audio_stream(
        self, metadata: SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> SpeechResult:
        """Upload the speech while it is still being spoken, then read the text.

        It goes to the Spark offering this service with the shortest queue, so a
        voice command never waits behind another Spark's long job; this entity's
        own Spark whenever it is no busier.
        """
        coordinator = self._least_busy()
        client = coordinator.client
        language = backend_language(metadata.language, self._languages, self._default_language)
        audio = wav_stream(
            stream,
            int(metadata.sample_rate),
            channels=int(metadata.channel),
            sample_width=int(metadata.bit_rate) // 8,
        )
        audio = keep_command(self.hass, self.entity_id, audio)  # only when opted in
        prompt = None if self.vocabulary is None else self.vocabulary.async_prompt().text
        # Who speaks is found beside the transcription, never in its way.
        speaker = CommandIdentification.begin(
            self.hass, coordinator, self.entity_id, str(self.unique_id), audio
        )
        try:
            # Text only: Assist never uses timings, and WhisperX would align words for them.
            result = await client.transcribe(
                speaker.audio, TranscriptionOptions(TEXT_ONLY, language, prompt)
            )
        except SparkError as err:
            report_backend_fault(err, coordinator)
            _LOGGER.warning(
                "%s speech-to-text failed on %s: %s",
                SERVICE_NAMES[coordinator.service],
                coordinator.config_entry.title,
                err,
            )
            return SpeechResult(None, SpeechResultState.ERROR)
        finally:
            speaker.finish()
        return SpeechResult(result.text, SpeechResultState.SUCCESS)

    def _least_busy(self) -> SparkServiceCoordinator[OpenAITranscriptionClient]:
        """The healthy coordinator of this service with the shortest queue (own one on a tie)."""
        own = self.coordinator
        candidates = offering(self.hass, STT_SLOTS[own.service], prefer=own.config_entry.entry_id)
        return next((c for c in candidates if c.last_update_success), own)
