"""`tiergate sim`: flags, and the handler that starts the server.

The flags are a superset of vLLM's common ones so that the simulator can run in place of
the vLLM image with the same container args. vLLM flags that mean nothing here are
accepted and ignored (`--tensor-parallel-size`, `--gpu-memory-utilization`, `--dtype`,
`--quantization`, `--otlp-traces-endpoint`, `--trust-remote-code`, `--download-dir`,
`--enforce-eager`, `--max-num-batched-tokens`), as is any other `--flag [value]` (a
ModelTier's `extraArgs`). Those that shape serving take effect as in vLLM: `--max-model-len`
(the context limit), `--max-num-seqs`, `--enable-prefix-caching`, `--block-size` and
`--num-gpu-blocks-override` (the scheduler and the KV cache). As with vLLM, a flag may be
spelt with underscores (`--max_num_seqs=8`). Importing this module costs only argparse; the
server's dependencies load when `run` starts it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tiergate_api.constants import VLLM_PORT
from tiergate_sim.knobs import DEFAULT_KV_CACHE_TOKENS, EngineConfig, KnobError, Knobs, SimConfig, check_knob

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction

DEFAULT_HOST = "127.0.0.1"
_DEFAULTS = Knobs()
_ENGINE = EngineConfig()
_DESCRIPTION = (
    "Serve a simulated OpenAI-compatible model (chat and text completions, streaming, "
    "/v1/models, /health, /metrics) with configurable latency and faults, plus an admin "
    "API (/sim/config, /sim/stats) to change them while it runs."
)
_EPILOG = (
    "Any flag not listed here (for example vLLM's extraArgs) is accepted and ignored. "
    "Per-request test overrides: headers x-sim-fault: error|rate-limit|hang|drop|none and "
    "x-sim-status: <400-599>."
)


class _VllmStyleParser(argparse.ArgumentParser):
    """Parses like vLLM's server, which the simulator stands in for.

    Unknown flags are filed under `ignored_args` instead of failing, the model may come
    as a leading word (`vllm serve MODEL` style, an optional `serve` skipped) when
    `--model` is absent, and underscores in a flag's name read as dashes.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if args is None:
            args = sys.argv[1:]
        parsed, unknown = super().parse_known_args([_dashed(arg) for arg in args], namespace)
        if parsed.model is None:
            words = list(itertools.takewhile(lambda arg: not arg.startswith("-"), unknown[:2]))
            if words[:1] == ["serve"]:
                words = words[1:2]
            if not words:
                self.error("the model is required: --model NAME (or a leading NAME, as `vllm serve NAME`)")
            parsed.model = words[0]
            del unknown[: unknown.index(words[0]) + 1]
        parsed.ignored_args = [*getattr(parsed, "ignored_args", []), *unknown]
        return parsed, []


def _dashed(arg: str) -> str:
    """`--max_num_seqs=8` as `--max-num-seqs=8`: vLLM's parser takes either spelling."""
    if not arg.startswith("--"):
        return arg
    name, equals, value = arg.partition("=")
    return name.replace("_", "-") + equals + value


def _knob(name: str, parse: Callable[[str], float | int]) -> Callable[[str], float | int]:
    """An argparse `type` that parses a flag and checks it as the knob `name` (one set of rules)."""

    def convert(text: str) -> float | int:
        try:
            value = parse(text)
            check_knob(name, value)
        except KnobError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        return value

    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the simulator's flags on `parser`."""
    serving = parser.add_argument_group("serving (vLLM-compatible)")
    serving.add_argument(
        "--model", metavar="NAME", help="model id, accepted as a request's model (or give it as a leading NAME)"
    )
    serving.add_argument(
        "--served-model-name",
        nargs="+",
        default=[],
        metavar="NAME",
        help='names clients send as "model" and /v1/models lists (default: --model)',
    )
    serving.add_argument("--host", metavar="HOST", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    serving.add_argument(
        "--port",
        metavar="PORT",
        type=int,
        default=VLLM_PORT,
        help="port to bind, 0 for any free one (default: %(default)s)",
    )
    serving.add_argument("--api-key", metavar="KEY", help="require `Authorization: Bearer KEY` on /v1 requests")
    serving.add_argument(
        "--max-model-len",
        metavar="TOKENS",
        type=_knob("max_model_len", int),
        help="context limit in tokens; longer requests get 400 (default: none)",
    )
    serving.add_argument("--seed", metavar="N", type=int, help="seed of the fault draws, for reproducible runs")

    engine = parser.add_argument_group("scheduling and KV cache (vLLM-compatible)")
    engine.add_argument(
        "--max-num-seqs",
        metavar="N",
        type=_knob("max_num_seqs", int),
        help="sequences answered at once; the rest wait in a FIFO queue (default: no limit)",
    )
    engine.add_argument(
        "--enable-prefix-caching",
        action=argparse.BooleanOptionalAction,
        default=_ENGINE.enable_prefix_caching,
        help="reuse the KV blocks of prompt prefixes seen before: cached tokens skip the prefill (default: off)",
    )
    engine.add_argument(
        "--block-size",
        metavar="TOKENS",
        type=_knob("block_size", int),
        default=_ENGINE.block_size,
        help="tokens per KV-cache block (default: %(default)s)",
    )
    engine.add_argument(
        "--num-gpu-blocks-override",
        metavar="N",
        type=_knob("num_gpu_blocks_override", int),
        help=(
            "KV-cache capacity in blocks; requests wait for room, idle cached blocks are evicted "
            f"least recently used first (default: {DEFAULT_KV_CACHE_TOKENS} tokens' worth)"
        ),
    )

    timing = parser.add_argument_group("answers and timing")
    timing.add_argument(
        "--ttft-ms",
        metavar="MS",
        type=_knob("ttft_ms", float),
        default=_DEFAULTS.ttft_ms,
        help="delay before the first token, ms (default: %(default)s)",
    )
    timing.add_argument(
        "--tokens-per-second",
        metavar="N",
        type=_knob("tokens_per_second", float),
        default=_DEFAULTS.tokens_per_second,
        help="pace of the following tokens; 0 = unpaced (default: %(default)s)",
    )
    timing.add_argument(
        "--prefill-tokens-per-second",
        metavar="N",
        type=_knob("prefill_tokens_per_second", float),
        default=_DEFAULTS.prefill_tokens_per_second,
        help="prefill speed: prompt tokens not in the prefix cache add to the first token's delay; "
        "0 = instant (default: %(default)s)",
    )
    timing.add_argument(
        "--output-tokens",
        metavar="N",
        type=_knob("output_tokens", int),
        default=_DEFAULTS.output_tokens,
        help="answer length, capped by max_tokens (default: %(default)s)",
    )

    faults = parser.add_argument_group("faults (shares of completion requests, 0 to 1)")
    faults.add_argument(
        "--error-rate", metavar="F", type=_knob("error_rate", float), default=_DEFAULTS.error_rate, help="answer 500"
    )
    faults.add_argument(
        "--rate-limit-rate",
        metavar="F",
        type=_knob("rate_limit_rate", float),
        default=_DEFAULTS.rate_limit_rate,
        help="answer 429 with Retry-After",
    )
    faults.add_argument(
        "--hang-rate",
        metavar="F",
        type=_knob("hang_rate", float),
        default=_DEFAULTS.hang_rate,
        help="never answer (until the client disconnects)",
    )
    faults.add_argument(
        "--drop-stream-rate",
        metavar="F",
        type=_knob("drop_stream_rate", float),
        default=_DEFAULTS.drop_stream_rate,
        help="cut streams mid-way, without [DONE]",
    )
    faults.add_argument(
        "--retry-after-seconds",
        metavar="SECONDS",
        type=_knob("retry_after_seconds", int),
        default=_DEFAULTS.retry_after_seconds,
        help="Retry-After on 429 answers (default: %(default)s)",
    )

    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: %(default)s)",
    )

    ignored = parser.add_argument_group("vLLM flags accepted and ignored")
    for flag in (
        "--tensor-parallel-size",
        "--pipeline-parallel-size",
        "--gpu-memory-utilization",
        "--dtype",
        "--quantization",
        "--otlp-traces-endpoint",
        "--download-dir",
        "--max-num-batched-tokens",
    ):
        ignored.add_argument(flag, metavar="VALUE", help="ignored")
    for flag in ("--trust-remote-code", "--enforce-eager"):
        ignored.add_argument(flag, action="store_true", help="ignored")
    parser.set_defaults(handler=run, ignored_args=[])


def register(commands: _SubParsers) -> None:
    """Add the `sim` subcommand to the `tiergate` console script's subparsers."""
    parser = commands.add_parser(
        "sim",
        help="run a simulated OpenAI-compatible upstream (stands in for vLLM)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        allow_abbrev=False,
    )
    # add_parser takes no parser class per call; swap in the vLLM-style one.
    base = type(parser)
    parser.__class__ = (
        _VllmStyleParser if base is argparse.ArgumentParser else type("VllmStyleParser", (_VllmStyleParser, base), {})
    )
    add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser, for `python -m tiergate_sim`."""
    parser = _VllmStyleParser(prog="tiergate sim", description=_DESCRIPTION, epilog=_EPILOG, allow_abbrev=False)
    add_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The `SimConfig` the parsed flags describe."""
    knobs = Knobs(
        ttft_ms=float(args.ttft_ms),
        tokens_per_second=float(args.tokens_per_second),
        prefill_tokens_per_second=float(args.prefill_tokens_per_second),
        output_tokens=args.output_tokens,
        error_rate=float(args.error_rate),
        rate_limit_rate=float(args.rate_limit_rate),
        hang_rate=float(args.hang_rate),
        drop_stream_rate=float(args.drop_stream_rate),
        retry_after_seconds=args.retry_after_seconds,
        max_model_len=args.max_model_len,
        api_key=args.api_key or None,
        seed=args.seed,
    )
    engine = EngineConfig(
        max_num_seqs=args.max_num_seqs,
        enable_prefix_caching=args.enable_prefix_caching,
        block_size=args.block_size,
        num_gpu_blocks_override=args.num_gpu_blocks_override,
    )
    names = tuple(dict.fromkeys(args.served_model_name))
    return SimConfig(model=args.model, served_model_names=names, knobs=knobs, engine=engine)


def run(args: argparse.Namespace) -> int:
    """Start the simulator as `args` say; returns the process exit code."""
    from tiergate_sim.server import bind, serve

    config = config_from_args(args)
    if args.ignored_args:
        print(f"tiergate sim: ignoring flags {' '.join(args.ignored_args)}", file=sys.stderr)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"tiergate sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    serve(config, sock, log_level=args.log_level)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tiergate_sim [flags]`."""
    args = build_parser().parse_args(argv)
    return run(args)
