"""Tiny models built at test time, so the real whisperX stack runs with no download.

- Whisper: a 1-layer Whisper (transformers) with a full-size multilingual
  vocabulary, converted to CTranslate2 with its ``tokenizer.json``. The weights
  are random, except that the decoder's attention and feed-forward outputs are
  zeroed and its learned position embeddings point at chosen tokens: whatever
  the audio, it "hears" `SPOKEN` (and detects `DETECTED_LANGUAGE`). That makes
  the real decoder, tokenizer and formats checkable with exact text.
- Alignment: an untrained wav2vec2 CTC model with a letters vocabulary and
  its processor (whisperX's Hugging Face alignment path).
- NLTK punkt_tab with empty parameters (alignment splits sentences with it).

The VAD is the segmentation model whisperX ships inside its wheel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPOKEN = " hello from the spark"
DETECTED_LANGUAGE = "en"
D_MODEL = 64
BYTE_VOCAB = 50_257  # ids below <|endoftext|>, as in Whisper's multilingual vocabulary
_STEER = 20.0  # how far a position embedding outweighs the token embedding
# The final layer norm's gain: the steered token's logit is about 8 x this (the normalised hidden
# state has norm sqrt(D_MODEL) = 8), every other token's stays near 0, so each steered step gets
# all but e^-(8 x gain) / 51,866 of the probability. With a gain of 1 it got only ~3 %: a flat
# distribution, under which beam search with length normalisation preferred a long run of
# equally improbable fillers on some CPUs and stopped on others.
_GAIN = 4.0
PROMPT_LENGTH = 4  # <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>


def whisper_tokens(languages: tuple[str, ...]) -> list[str]:
    """Every token string by id: bytes, words, fillers, specials, timestamps."""
    from tokenizers.pre_tokenizers import ByteLevel

    tokens = sorted(ByteLevel.alphabet())
    tokens += ["Ġ" + word for word in SPOKEN.split()]
    tokens += [f"zq{i}" for i in range(BYTE_VOCAB - 1 - len(tokens))]
    # Id 50256 is the empty token in Whisper's multilingual vocabulary; CTranslate2 >= 4.7 tells
    # a multilingual model by it (and refuses detect_language without it).
    tokens += [""]
    tokens += ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += [f"<|{code}|>" for code in languages]
    tokens += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    tokens += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return tokens


def steered_tokens(ids: dict[str, int]) -> list[int]:
    """The token ids the decoder's positions point at: the words, end-of-text, the language."""
    words = [ids["Ġ" + word] for word in SPOKEN.split()]
    return [*words, ids["<|endoftext|>"], ids[f"<|{DETECTED_LANGUAGE}|>"]]


def _tokenizer(tokens: list[str]) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True) for t in tokens[BYTE_VOCAB:] if t.startswith("<|")]
    )
    return tokenizer


def build_whisper(out: Path, seed: int = 0) -> Path:
    """A CTranslate2 Whisper model in `out` (with tokenizer.json)."""
    import ctranslate2.converters
    import torch
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperForConditionalGeneration,
    )

    languages = tuple(_LANGUAGE_CODES)
    tokens = whisper_tokens(languages)
    ids = {token: i for i, token in enumerate(tokens)}
    eot = ids["<|endoftext|>"]
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=len(tokens),
        num_mel_bins=80,
        d_model=D_MODEL,
        encoder_layers=1,
        encoder_attention_heads=2,
        decoder_layers=1,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    model = WhisperForConditionalGeneration(config).eval()
    decoder = model.model.decoder
    with torch.no_grad():
        embed = torch.randn(len(tokens), D_MODEL)
        steered = steered_tokens(ids)
        # Orthogonal, zero-mean, unit directions for the tokens the positions point at, and
        # every other token orthogonal to all of them: at a steered position only the steered
        # token's logit is large, whichever token came before.
        embed -= embed.mean(dim=1, keepdim=True)
        basis, _ = torch.linalg.qr(embed[steered].T)
        others = torch.ones(len(tokens), dtype=torch.bool)
        others[steered] = False
        embed[others] -= (embed[others] @ basis) @ basis.T
        embed[steered] = basis.T
        embed /= embed.norm(dim=1, keepdim=True)
        decoder.embed_tokens.weight.copy_(embed)  # proj_out is tied to it
        positions = decoder.embed_positions.weight
        positions.normal_(0, 0.01)
        positions[0] = _STEER * embed[ids[f"<|{DETECTED_LANGUAGE}|>"]]  # language detection
        for offset, token in enumerate(steered[:-1]):
            positions[PROMPT_LENGTH - 1 + offset] = _STEER * embed[token]
        for layer in decoder.layers:
            for linear in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                linear.weight.zero_()
                if linear.bias is not None:
                    linear.bias.zero_()
        decoder.layer_norm.weight.fill_(_GAIN)
        decoder.layer_norm.bias.zero_()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in languages},
        no_timestamps_token_id=ids["<|notimestamps|>"],
    )
    hf_dir = out.parent / f"{out.name}-hf"
    model.save_pretrained(hf_dir)
    fast = PreTrainedTokenizerFast(tokenizer_object=_tokenizer(tokens))
    fast.save_pretrained(hf_dir)
    ctranslate2.converters.TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json"]
    ).convert(str(out), force=True)
    return out


def build_aligner(out: Path, seed: int = 0) -> Path:
    """An untrained wav2vec2 CTC model and its processor in `out`."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out.mkdir(parents=True, exist_ok=True)
    letters = ["<pad>", "<s>", "</s>", "<unk>", "|", "'", *"abcdefghijklmnopqrstuvwxyz"]
    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(letters)}), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True
    )
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=len(letters),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    Wav2Vec2ForCTC(config).save_pretrained(out)
    return out


def build_punkt(nltk_data: Path, language: str = "english") -> Path:
    """An empty punkt_tab model (no abbreviations learned) where NLTK looks for it."""
    folder = nltk_data / "tokenizers" / "punkt_tab" / language
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (folder / name).write_text("", encoding="utf-8")
    return nltk_data


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1])
    build_whisper(root / "whisper")
    build_aligner(root / "aligner")
    build_punkt(root / "nltk_data")
    print("built in", root)
