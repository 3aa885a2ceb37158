"""`python -m tests.spark_sim`: a simulated Spark for manual and dev runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path

from .realistic import apply_realistic
from .server import SparkSim


def _parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.spark_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--parakeet-port", type=int, default=8000)
    parser.add_argument("--magpie-port", type=int, default=9000)
    parser.add_argument("--whisperx-port", type=int, default=8002)
    parser.add_argument(
        "--no-whisperx", action="store_true", help="simulate a Spark without WhisperX"
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="a real Spark's rates instead of near-instant answers: RTFs, word alignment, "
        "aligner loads, model loads after a restart (tests/spark_sim/realistic.py)",
    )
    parser.add_argument(
        "--ports-file",
        type=Path,
        help="write the ports listened on as JSON once listening (use with port 0: no race "
        "between picking a free port and binding it)",
    )
    return parser.parse_args()


async def _serve(args: argparse.Namespace) -> None:
    """Run until SIGINT/SIGTERM."""
    sim = SparkSim(
        args.host,
        parakeet_port=args.parakeet_port,
        magpie_port=args.magpie_port,
        whisperx_port=args.whisperx_port,
        with_whisperx=not args.no_whisperx,
    )
    if args.realistic:
        apply_realistic(sim.states)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        for name, url in sim.urls.items():
            knobs = sim.states[name].snapshot()
            logging.getLogger("spark_sim").info(
                "%s listening on %s (rtf %g, align_rtf %g, aligner_load_s %g, load_s %g)",
                name,
                url,
                *(knobs[k] for k in ("rtf", "align_rtf", "aligner_load_s", "load_s")),
            )
        if args.ports_file is not None:
            partial = args.ports_file.with_name(args.ports_file.name + ".part")
            partial.write_text(json.dumps(sim.ports))
            partial.replace(args.ports_file)  # appears whole, or not at all
        await stop.wait()


def main() -> None:
    """Entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve(_parse_args()))


if __name__ == "__main__":
    main()
