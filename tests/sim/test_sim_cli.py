"""`tiergate sim` flags, run as `python -m tiergate_sim` and through `register`."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Callable

import httpx
import openai

from tiergate_sim import cli
from tiergate_sim.knobs import EngineConfig
from tiergate_sim.process import SimProcess

type Spawn = Callable[..., SimProcess]

VLLM_STYLE = (
    "--model", "Qwen/Qwen2.5-1.5B-Instruct",
    "--served-model-name", "qwen-1-5b",
    "--tensor-parallel-size", "2",
    "--gpu-memory-utilization", "0.9",
    "--max-model-len", "8192",
    "--dtype", "auto",
    "--trust-remote-code",
    "--enforce-eager",
    "--max-num-seqs=16",
    "--enable-prefix-caching",
    "--block_size", "32",
    "--max-num-batched-tokens", "8192",
    "--some-unknown-flag", "x",
    "--another-unknown-switch",
    "--yet-another=value",
)  # fmt: skip


def run_module(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tiergate_sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_stands_in_for_vllm_with_its_flags(spawn: Spawn) -> None:
    sim = spawn(*VLLM_STYLE)
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0, timeout=10)
    for name in ("qwen-1-5b", "Qwen/Qwen2.5-1.5B-Instruct"):
        answer = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert answer.model == name
    [listed] = client.models.list().data
    assert listed.id == "qwen-1-5b"
    assert listed.model_extra is not None and listed.model_extra["max_model_len"] == 8192
    assert httpx.get(f"{sim.url}/health", timeout=10).status_code == 200


def test_several_served_names_are_all_accepted(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--served-model-name", "a", "b")
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0, timeout=10)
    assert [model.id for model in client.models.list().data] == ["a", "b"]
    for name in ("a", "b", "m"):
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])


def test_start_up_knobs_show_in_the_config(spawn: Spawn) -> None:
    sim = spawn(
        "--model", "m", "--ttft-ms", "12.5", "--tokens-per-second", "80", "--output-tokens", "5",
        "--hang-rate", "0.1", "--drop-stream-rate", "0.2", "--seed", "3",
    )  # fmt: skip
    config = httpx.get(f"{sim.url}/sim/config", timeout=10).json()
    assert config["ttft_ms"] == 12.5
    assert config["tokens_per_second"] == 80
    assert config["output_tokens"] == 5
    assert (config["hang_rate"], config["drop_stream_rate"], config["seed"]) == (0.1, 0.2, 3)


def test_help_lists_the_flags() -> None:
    result = run_module("--help")
    assert result.returncode == 0
    for flag in (
        "--served-model-name", "--ttft-ms", "--drop-stream-rate", "--tensor-parallel-size", "--max-num-seqs",
        "--enable-prefix-caching", "--block-size", "--num-gpu-blocks-override", "--prefill-tokens-per-second",
    ):  # fmt: skip
        assert flag in result.stdout


def test_out_of_range_rate_is_a_usage_error() -> None:
    result = run_module("--model", "m", "--error-rate", "2")
    assert result.returncode == 2
    assert "--error-rate" in result.stderr


def test_model_is_required() -> None:
    result = run_module("--port", "0")
    assert result.returncode == 2
    assert "--model" in result.stderr


def test_busy_port_exits_1_with_a_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run_module("--model", "m", "--port", str(port))
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


def test_register_adds_a_tolerant_sim_subcommand() -> None:
    # The console script's parser calls parse_args (not parse_known_args): unknown vLLM
    # flags after `sim` must still parse.
    parser = argparse.ArgumentParser(prog="tiergate")
    commands = parser.add_subparsers(dest="command")
    cli.register(commands)
    args = parser.parse_args(["sim", *VLLM_STYLE, "--port", "9000"])
    assert args.handler is cli.run
    assert args.port == 9000
    assert args.ignored_args == [
        "--some-unknown-flag", "x", "--another-unknown-switch", "--yet-another=value",
    ]  # fmt: skip
    config = cli.config_from_args(args)
    assert config.model == "Qwen/Qwen2.5-1.5B-Instruct"
    assert config.served_model_names == ("qwen-1-5b",)
    assert config.knobs.max_model_len == 8192
    assert config.engine == EngineConfig(max_num_seqs=16, enable_prefix_caching=True, block_size=32)


def test_non_finite_numbers_are_usage_errors() -> None:
    result = run_module("--model", "m", "--ttft-ms", "inf")
    assert result.returncode == 2
    assert "ttft_ms" in result.stderr


def test_model_may_lead_as_in_vllm_serve(spawn: Spawn) -> None:
    sim = spawn("serve", "Qwen/Qwen2.5-0.5B-Instruct", "--served-model-name", "tiny", "--max-num-seqs", "8")
    assert httpx.get(f"{sim.url}/sim/config", timeout=10).json()["model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    args = cli.build_parser().parse_args(["m1", "--unknown", "v"])
    assert (args.model, args.ignored_args) == ("m1", ["--unknown", "v"])


def test_engine_flags_parse_as_vllms_do() -> None:
    parse = cli.build_parser().parse_args
    engine = cli.config_from_args(
        parse(["m", "--max_num_seqs=8", "--enable-prefix-caching", "--num-gpu-blocks-override=100"])
    ).engine
    assert engine == EngineConfig(max_num_seqs=8, enable_prefix_caching=True, num_gpu_blocks_override=100)
    assert engine.num_gpu_blocks == 100
    switched_off = cli.config_from_args(parse(["m", "--enable-prefix-caching", "--no-enable-prefix-caching"]))
    assert switched_off.engine.enable_prefix_caching is False
    assert cli.config_from_args(parse(["m"])).engine == EngineConfig()


def test_engine_flags_show_in_the_config_and_the_metrics(spawn: Spawn) -> None:
    sim = spawn(
        "--model", "m", "--max-num-seqs", "3", "--enable-prefix-caching", "--block-size=8",
        "--num-gpu-blocks-override", "500", "--prefill-tokens-per-second", "1e4",
    )  # fmt: skip
    config = httpx.get(f"{sim.url}/sim/config", timeout=10).json()
    assert (config["max_num_seqs"], config["enable_prefix_caching"], config["block_size"]) == (3, True, 8)
    assert (config["num_gpu_blocks_override"], config["num_gpu_blocks"]) == (500, 500)
    assert config["prefill_tokens_per_second"] == 10_000
    metrics = httpx.get(f"{sim.url}/metrics", timeout=10).text
    assert 'block_size="8",enable_prefix_caching="True",engine="0",num_gpu_blocks="500"' in metrics


def test_bad_engine_flags_are_usage_errors() -> None:
    for flag, value in (("--max-num-seqs", "0"), ("--block-size", "x"), ("--num-gpu-blocks-override", "-1")):
        result = run_module("--model", "m", flag, value)
        assert result.returncode == 2, flag
        assert flag in result.stderr
