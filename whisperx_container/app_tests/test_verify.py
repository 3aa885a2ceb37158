"""``python -m app.verify``: report lines, JSON, pass/fail rules and exit status.

The checks sit behind `VerifyProbe`; a fake probe stands in for the ML stack
(none here), so these tests cover what the command makes of each verdict. The
real probe runs on the engine lane (engine_tests/test_verify.py) and the Spark.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import verify
from app.config import Settings
from app.verify_checks import NO_GPU, Skipped
from app.verify_cuda import loaded_libraries, verdict


class FakeProbe:
    """Answers each check as told: a detail string, a Skipped, or an exception."""

    model = "medium"
    device = "cuda"

    def __init__(self, **answers: str | BaseException) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def _answer(self, name: str) -> str:
        self.calls.append(name)
        answer = self.answers.get(name, f"{name} fine")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def compute_types(self) -> tuple[str, ...]:
        return ("float16", "int8_float16")

    def cuda_kernels(self) -> str:
        return self._answer("cuda_kernels")

    def transcribe(self, compute_type: str) -> str:
        return self._answer(f"transcribe_{compute_type}")

    def align(self) -> str:
        return self._answer("alignment")

    def diarize(self) -> str:
        return self._answer("diarization")

    def torchcodec(self) -> str:
        return self._answer("torchcodec")


def ticking() -> Iterator[float]:
    """A clock that advances 1.5 s per reading: each check takes 1.5 s."""
    now = 0.0
    while True:
        yield now
        now += 1.5


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid service configuration."""
    monkeypatch.setenv("WHISPERX_MODEL", "medium")
    for name in ("HF_TOKEN", "HF_TOKEN_FILE", "WHISPERX_API_KEY", "WHISPERX_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_every_check_runs_in_order_and_is_timed() -> None:
    """The GPU first, both compute types, then alignment, diarizer, torchcodec; each timed."""
    probe = FakeProbe()
    clock = ticking()
    report = verify.run_checks(probe, "0.3.0", clock=lambda: next(clock))
    names = [check.name for check in report.checks]
    assert names == [
        "cuda_kernels",
        "transcribe_float16",
        "transcribe_int8_float16",
        "alignment",
        "diarization",
        "torchcodec",
    ]
    assert probe.calls == names
    assert [check.seconds for check in report.checks] == [1.5] * 6
    assert report.passed


def test_a_failure_is_reported_and_the_rest_still_run() -> None:
    """One failing check fails the report, names the error, and does not stop the others."""
    probe = FakeProbe(transcribe_int8_float16=RuntimeError("CUBLAS_STATUS_NOT_SUPPORTED"))
    report = verify.run_checks(probe, "0.3.0")
    by_name = {check.name: check for check in report.checks}
    assert by_name["transcribe_int8_float16"].status == "failed"
    assert by_name["transcribe_int8_float16"].detail == (
        "RuntimeError: CUBLAS_STATUS_NOT_SUPPORTED"
    )
    assert by_name["torchcodec"].status == "passed"
    assert not report.passed
    assert report.as_text().splitlines()[-1] == "FAILED: transcribe_int8_float16"


def test_skipped_checks_do_not_fail() -> None:
    """No GPU and no token are skips: the report still passes and says why."""
    probe = FakeProbe(cuda_kernels=Skipped(NO_GPU), diarization=Skipped("no HF token configured"))
    report = verify.run_checks(probe, "0.3.0")
    by_name = {check.name: check for check in report.checks}
    assert by_name["cuda_kernels"].status == "skipped"
    assert by_name["cuda_kernels"].detail == "skipped: no GPU"
    assert by_name["diarization"].detail == "skipped: no HF token configured"
    assert report.passed


def test_text_report_has_one_line_per_check() -> None:
    """A header, one line per check with its verdict and time, then the verdict."""
    probe = FakeProbe(alignment=ValueError("no\naligner"))
    clock = ticking()
    lines = verify.run_checks(probe, "0.3.0", clock=lambda: next(clock)).as_text().splitlines()
    assert lines[0] == "WhisperX 0.3.0 verify: model medium on cuda"
    assert lines[1] == "PASSED  cuda_kernels (1.5 s): cuda_kernels fine"
    assert lines[4] == "FAILED  alignment (1.5 s): ValueError: no aligner"
    assert len(lines) == 8


def test_long_details_are_capped() -> None:
    """A long error (a whole traceback's text) is cut to one bounded line."""
    probe = FakeProbe(torchcodec=OSError("x" * 5000))
    check = verify.run_checks(probe, "0.3.0").checks[-1]
    assert len(check.detail) == 500
    assert check.detail.endswith("…")


@pytest.mark.usefixtures("env")
def test_json_output_and_exit_status_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints one object on stdout; a failed check exits 1."""
    probe = FakeProbe(diarization=RuntimeError("gated model"))
    status = verify.main(["--json"], probe_factory=lambda settings: probe)
    assert status == verify.EXIT_FAILED
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    assert out["model"] == "medium"
    assert out["device"] == "cuda"
    assert [c["status"] for c in out["checks"]] == ["passed"] * 4 + ["failed", "passed"]
    assert set(out["checks"][0]) == {"name", "status", "detail", "seconds"}


@pytest.mark.usefixtures("env")
def test_all_passed_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """The text form by default; exit 0 when nothing failed."""
    seen: list[Settings] = []

    def factory(settings: Settings) -> FakeProbe:
        seen.append(settings)
        return FakeProbe()

    assert verify.main([], probe_factory=factory) == verify.EXIT_OK
    assert capsys.readouterr().out.strip().endswith("ALL PASSED")
    assert seen[0].model == "medium"


def test_noise_from_the_checks_stays_off_stdout(
    env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anything the ML stack prints goes to stderr, so stdout parses as JSON."""

    class Chatty(FakeProbe):
        def align(self) -> str:
            print("Performing alignment...")
            return "aligned"

    assert verify.main(["--json"], probe_factory=lambda settings: Chatty()) == verify.EXIT_OK
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passed"] is True
    assert "Performing alignment" in captured.err


def test_invalid_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configuration the service would refuse is refused here too, before any check."""
    monkeypatch.setenv("WHISPERX_MODEL", "huge")
    probe = FakeProbe()
    assert verify.main([], probe_factory=lambda settings: probe) == verify.EXIT_CONFIG
    assert probe.calls == []
    assert "WHISPERX_MODEL='huge'" in capsys.readouterr().err


GOOD_CHILD = {
    "gpus": 1,
    "compute_types": ["bfloat16", "float16", "float32", "int8", "int8_float16"],
    "float16_conversion_ok": True,
    "encoder_output": [1, 1500, 1024],
    "cublas": ["/opt/venv/nvidia/cu13/lib/libcublas.so.13", "/x/libcublasLt.so.13"],
}
CT2_LOG = (
    "[2026-12-07 02:00:00.000] [ctranslate2] [thread 7] [info] CPU: ARM\n"
    "[2026-12-07 02:00:00.000] [ctranslate2] [thread 7] [info] GPU #0: NVIDIA GB10 (CC=12.1)\n"
    "unrelated line about the GPU\n"
)


def test_cuda_verdict_names_the_cublas_and_quotes_the_log() -> None:
    """The CUDA check reports the mapped cuBLAS files and CTranslate2's GPU log lines."""
    detail = verdict("warming up\n" + json.dumps(GOOD_CHILD) + "\n", CT2_LOG)
    assert "cuBLAS loaded: libcublas.so.13, libcublasLt.so.13" in detail
    assert "/opt/venv/nvidia/cu13/lib/libcublas.so.13" in detail
    assert detail.endswith("CT2 log: GPU #0: NVIDIA GB10 (CC=12.1)")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gpus": 0}, "sees no CUDA device"),
        ({"float16_conversion_ok": False}, "wrong answer"),
        ({"cublas": []}, "no libcublas is mapped"),
        ({"compute_types": ["float32"]}, "no float16 on the GPU"),
    ],
)
def test_cuda_verdict_fails(change: dict[str, object], message: str) -> None:
    """Each way the GPU can be wrong fails the check with its reason."""
    with pytest.raises(RuntimeError, match=message):
        verdict(json.dumps({**GOOD_CHILD, **change}), "")


def test_cuda_verdict_without_output_quotes_the_log() -> None:
    """A child that printed nothing (it crashed in C) fails with its log's end."""
    with pytest.raises(RuntimeError, match=r"printed nothing.*Segmentation"):
        verdict("", "Segmentation fault")


def test_loaded_libraries_reads_the_maps(tmp_path: Path) -> None:
    """Mapped files are matched by file name, each once."""
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 0 08:01 1 /usr/lib/libcublas.so.13\n"
        "7f01-7f02 r--p 0 08:01 1 /usr/lib/libcublas.so.13\n"
        "7f02-7f03 r-xp 0 08:01 2 /usr/lib/libcublasLt.so.13\n"
        "7f03-7f04 r-xp 0 08:01 3 /usr/lib/libc.so.6\n"
        "7f04-7f05 rw-p 0 00:00 0 [heap]\n"
    )
    assert loaded_libraries("libcublas", maps) == [
        "/usr/lib/libcublas.so.13",
        "/usr/lib/libcublasLt.so.13",
    ]
    assert loaded_libraries("libcublas", tmp_path / "missing") == []


def test_a_probe_that_cannot_find_its_device_still_reports() -> None:
    """torch failing to import is one failed ``device`` check, not a traceback."""

    class Broken(FakeProbe):
        @property
        def device(self) -> str:  # type: ignore[override]
            raise ImportError("libcudart.so.13: cannot open shared object file")

    report = verify.run_checks(Broken(), "0.3.0")
    assert report.device == "unknown"
    assert [(c.name, c.status) for c in report.checks] == [("device", "failed")]
    assert "libcudart.so.13" in report.checks[0].detail
    assert not report.passed


def test_the_real_probe_runs_where_the_service_runs() -> None:
    """The device is the service's setting, cuda unless cpu is asked for: never guessed from
    what torch sees, so a Spark container without its GPU fails the CUDA checks."""
    from app.verify_engine import WhisperXProbe

    unset = {"WHISPERX_MODEL": "medium"}
    probe = WhisperXProbe(Settings.from_env(unset), unset)
    assert (probe.device, probe.compute_types()) == ("cuda", ("float16", "int8_float16"))
    cpu = {**unset, "WHISPERX_DEVICE": "cpu"}
    probe = WhisperXProbe(Settings.from_env(cpu), cpu)
    assert (probe.device, probe.compute_types()) == ("cpu", ("float32", "int8"))


def test_the_readme_checklist_is_the_commands_output_on_the_spark() -> None:
    """The container README's check table names exactly the checks the command prints on the
    GPU, in its order."""
    readme = (Path(verify.__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("| check | what it proves |") :].split("\n\n", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines()[2:]]
    listed = [name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row)]
    assert listed == [name for name, _ in verify.planned_checks(FakeProbe())]
