"""Every kind of bad line is counted and reported with where it is; none stops the replay."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from replay_setup import chat, write_log, write_replay_config
from tiergate_cli.main import main
from tiergate_gateway.replay import lines as replay_lines


def run(tmp_path: Path, *logs: Path) -> dict[str, Any]:
    config = write_replay_config(tmp_path / "config")
    out = tmp_path / "out.json"
    assert main(["replay", *map(str, logs), "--config-dir", str(config), "--json", str(out)]) == 0
    return json.loads(out.read_text())


BAD = {
    "InvalidJSON": b'{"messages": [',
    "NotAnObject": b"[1, 2, 3]",
    "InvalidUTF8": b'{"messages": "\xff\xfe"}',
    "NoRequest": b'{"hello": "world"}',
    "InvalidRequest": json.dumps({"messages": []}).encode(),
    "InvalidField": json.dumps({"request": chat("hi"), "timestamp": "yesterday"}).encode(),
}


def test_each_kind_is_reported_with_its_line_and_the_good_lines_still_count(tmp_path: Path) -> None:
    lines: list[Any] = [chat("hello")]
    for raw in BAD.values():
        lines += [raw, chat("hello again")]
    document = run(tmp_path, write_log(tmp_path / "mixed.jsonl", lines))
    assert document["requests"]["replayed"] == 7
    assert document["requests"]["bad_lines"] == len(BAD)
    assert document["requests"]["lines"] == 7 + len(BAD)
    listed = document["bad_lines"]["listed"]
    assert [(item["kind"], item["line"]) for item in listed] == [(kind, 2 + 2 * i) for i, kind in enumerate(BAD)]
    assert all(item["file"].endswith("mixed.jsonl") and item["detail"] for item in listed)
    assert document["bad_lines"]["by_kind"] == dict.fromkeys(BAD, 1)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"request": chat("hi"), "headers": {"x-tiergate-task": "Poetry"}}, "unknown task"),
        ({"request": chat("hi"), "headers": {"x-tiergate-latency-class": "Soon"}}, "unknown latency class"),
        ({"request": chat("hi"), "response": {"usage": {"prompt_tokens": -1, "completion_tokens": 2}}}, "usage"),
        ({"request": chat("hi"), "timestamp": True}, "timestamp"),
        ({"request": {"model": "auto"}, "shape": {"task": "Chat"}}, "prompt_tokens"),
        ({"request": {"model": "auto"}, "shape": {"task": "Nope", "prompt_tokens": 3}}, "unknown task"),
        ({"request": {"model": "auto"}}, "no 'shape'"),
        ({"request": "text"}, "must be a JSON object"),
        ({"request": chat("hi", max_tokens=0)}, "max_tokens"),
    ],
)
def test_wrong_fields_say_what_is_wrong(tmp_path: Path, line: dict[str, Any], words: str) -> None:
    document = run(tmp_path, write_log(tmp_path / "one.jsonl", [line]))
    (item,) = document["bad_lines"]["listed"]
    assert words in item["detail"]
    assert document["requests"]["replayed"] == 0


def test_an_overlong_line_is_reported_without_being_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_lines, "MAX_LINE_BYTES", 100)
    document = run(tmp_path, write_log(tmp_path / "long.jsonl", [chat("x" * 200), chat("short")]))
    assert document["bad_lines"]["listed"][0]["kind"] == "LineTooLong"
    assert document["requests"]["replayed"] == 1


def test_a_missing_file_and_a_cut_gzip_are_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(json.dumps(chat(f"hello {n}")).encode() + b"\n" for n in range(200)))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    good = write_log(tmp_path / "good.jsonl", [chat("hi")])
    document = run(tmp_path, tmp_path / "missing.jsonl", cut, good)
    kinds = [(item["file"].rsplit("/", 1)[-1], item["kind"]) for item in document["bad_lines"]["listed"]]
    assert kinds == [("missing.jsonl", "UnreadableFile"), ("cut.jsonl.gz", "UnreadableFile")]
    assert document["bad_lines"]["listed"][0]["line"] == 0
    assert document["bad_lines"]["listed"][1]["line"] > 1  # where it broke
    replayed = document["requests"]["replayed"]
    assert 1 < replayed < 201  # the readable part of the cut file, and the good file


def test_unknown_names_are_refused_with_what_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_replay_config(tmp_path / "config")
    log = write_log(tmp_path / "a.jsonl", [chat("hi")])
    assert main(["replay", str(log), "--config-dir", str(config), "--policy", "nope"]) == 2
    assert "no policy 'nope'" in capsys.readouterr().err
    assert main(["replay", str(log), "--config-dir", str(config), "--baseline", "huge"]) == 2
    assert "tiers: big, small" in capsys.readouterr().err
    assert main(["replay", str(log), "--config-dir", str(tmp_path / "absent")]) == 2


def test_json_to_stdout_keeps_the_table_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_replay_config(tmp_path / "config")
    log = write_log(tmp_path / "a.jsonl", [chat("hi")])
    assert main(["replay", str(log), "--config-dir", str(config), "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["requests"]["replayed"] == 1
    assert "tiergate replay: 1 request from 1 log" in captured.err
