"""The built-in task classifier: prompts per task in several languages, follow-ups, odd input, the dev set."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summary import SUMMARY_KEY
from tiergate_api.enums import Task
from tiergate_gateway.core.classify import Classification, classify_messages, classify_prompt

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = Path(os.environ.get("TIERGATE_TASKS_DEV", ROOT.parent / "shared" / "data" / "tasks-dev.jsonl"))
REGRESSION_SET = ROOT / "tests" / "data" / "classifier-regression.jsonl"

ARTICLE = (
    "The city council voted 7-2 on Tuesday to approve a new bike lane network spanning 40 kilometres across the "
    "downtown core. Supporters argued the lanes would reduce traffic deaths and encourage commuting by bicycle, "
    "while opponents, including several small business owners, worried about the loss of street parking. The "
    "project is expected to cost 18 million dollars and will be funded partly by a federal grant. Construction "
    "begins in March and is scheduled to finish within two years."
)
EMAIL = (
    "Hi team,\n\nThe Q3 offsite is confirmed for September 18-19 at the Lakeview Lodge, 221 Shore Rd, Tahoe City. "
    "Book flights into RNO by Sept 1; the company card covers up to $450. Contact Maria Gonzalez "
    "(maria.g@acme.io, +1 530 555 0142) with dietary needs.\n\nThanks,\nDev"
)
PY_CODE = (
    "```python\ndef mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n"
    "    return total / len(xs)\n```"
)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def conversation(*turns: str, system: str | None = None) -> list[dict[str, Any]]:
    """Alternating user and assistant turns, starting and ending with the user."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return messages


PROMPTS: list[tuple[Task, str]] = [
    # Classification
    (Task.CLASSIFICATION, "Label each of these reviews as positive, negative or neutral:\n1. Great value\n2. Broke"),
    (Task.CLASSIFICATION, 'Is this tweet toxic? Answer true or false.\n\n"You people are the worst, go away"'),
    (Task.CLASSIFICATION, 'Clasifica este comentario como positivo, negativo o neutral: "El envío tardó mucho."'),
    (Task.CLASSIFICATION, "Classe ce ticket dans la bonne catégorie (facturation, technique, compte) : « Je n'arrive "
     "plus à me connecter. »"),
    (Task.CLASSIFICATION, '判断下面这条评论的情感倾向（正面/负面/中性）："快递很快，但是包装破损了。"'),
    (Task.CLASSIFICATION, "次のメールをスパムかどうか分類してください：「当選おめでとうございます！」"),
    (Task.CLASSIFICATION, 'Ist diese Bewertung positiv, negativ oder neutral? "Das Hotel war okay, mehr nicht."'),
    # Summarization
    (Task.SUMMARIZATION, "Summarise the following article for a busy executive:\n\n" + ARTICLE),
    (Task.SUMMARIZATION, ARTICLE + "\n\nCan you give me a quick summary of that?"),
    (Task.SUMMARIZATION, "What are the main takeaways from this?\n\n" + ARTICLE),
    (Task.SUMMARIZATION, "Résume ce texte en deux phrases :\n\n" + ARTICLE),
    (Task.SUMMARIZATION, "Fasse den folgenden Text in drei Stichpunkten zusammen:\n\n" + ARTICLE),
    (Task.SUMMARIZATION, "请用三句话总结下面这段新闻：\n\n" + ARTICLE),
    (Task.SUMMARIZATION, "以下の記事を要約してください。\n\n" + ARTICLE),
    # Extraction
    (Task.EXTRACTION, "Extract the names, email addresses and phone numbers from this email:\n\n" + EMAIL),
    (Task.EXTRACTION, EMAIL + "\n\nWhen and where is the offsite, and what's the flight budget?"),
    (Task.EXTRACTION, "Convert this into a JSON object with fields merchant, date, total:\n\nSTARBUCKS #1142\n"
     "12/03/2024 08:14\nGrande Latte 5.45\nTOTAL USD 5.45"),
    (Task.EXTRACTION, "Extrae el nombre del paciente y los medicamentos de esta nota:\n\nPaciente: María López. "
     "Se prescribe ibuprofeno 400 mg y omeprazol 20 mg."),
    (Task.EXTRACTION, "从下面的简历中提取姓名、电话和邮箱，以JSON格式输出：\n\n张伟，电话 138-0013-8000。"),
    # CodeGeneration
    (Task.CODE_GENERATION, "Write a function in TypeScript that deep-merges two objects."),
    (Task.CODE_GENERATION, "Can you refactor this to use a list comprehension?\n\n" + PY_CODE),
    (Task.CODE_GENERATION, "Why does this throw?\n\nTraceback (most recent call last):\n  File \"app.py\", line 8, in "
     "main\n    data = json.loads(raw)\njson.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
    (Task.CODE_GENERATION, "Escribe una consulta SQL que devuelva los 10 productos más vendidos del último mes."),
    (Task.CODE_GENERATION, "写一个Python爬虫，抓取网页上的所有链接。"),
    (Task.CODE_GENERATION, "Напиши функцию на JavaScript, которая удаляет дубликаты из массива."),
    (Task.CODE_GENERATION, "How do I reverse a linked list in C?"),
    # Reasoning
    (Task.REASONING, "A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. How much does "
     "the ball cost?"),
    (Task.REASONING, "Prove that there are infinitely many prime numbers."),
    (Task.REASONING, "¿Cuál es la probabilidad de sacar al menos un seis con tres dados? Explica el razonamiento."),
    (Task.REASONING, "Beweise, dass die Wurzel aus 2 irrational ist."),
    (Task.REASONING, "甲管单独注满水池需要6小时，乙管需要4小时，两管同时打开需要多少小时？请写出推理过程。"),
    (Task.REASONING, "Our signups dropped 30% the week we changed the pricing page and also launched in Brazil. How "
     "would you figure out which change caused it? Walk me through it."),
    # CreativeWriting
    (Task.CREATIVE_WRITING, "Write a haiku about autumn leaves."),
    (Task.CREATIVE_WRITING, "Compose a toast for my brother's wedding, funny but heartfelt."),
    (Task.CREATIVE_WRITING, "Écris une histoire pour enfants sur un renard qui a peur de la neige."),
    (Task.CREATIVE_WRITING, "Escreva um conto curto sobre um pescador que encontra uma garrafa."),
    (Task.CREATIVE_WRITING, "写一首关于月亮的七言绝句。"),
    (Task.CREATIVE_WRITING, "猫が主人公の短い物語を書いてください。"),
    (Task.CREATIVE_WRITING, "Give me 10 name ideas for a cozy neighborhood bakery."),
    # Chat
    (Task.CHAT, "Good morning! How are you today?"),
    (Task.CHAT, "What's the tallest mountain in Africa?"),
    (Task.CHAT, "How far is the moon from Earth?"),
    (Task.CHAT, "Bonjour ! Tu peux me conseiller un bon film pour ce soir ?"),
    (Task.CHAT, "¿Cuántos habitantes tiene Madrid?"),
    (Task.CHAT, "你好！今天天气怎么样？"),
    (Task.CHAT, "Which is bigger, a mole or a vole?"),
]


@pytest.mark.parametrize(("expected", "prompt"), PROMPTS, ids=[f"{t.value}-{i}" for i, (t, _) in enumerate(PROMPTS)])
def test_classifies_representative_prompts(expected: Task, prompt: str) -> None:
    result = classify_prompt(prompt)
    assert result.task == expected, result.cues


def test_decision_names_the_cues_that_made_it() -> None:
    assert "kw:summarize" in classify_prompt("Summarize this:\n\n" + ARTICLE).cues
    assert "long_document" in classify_prompt("Thoughts?\n\n" + ARTICLE).cues
    code = classify_prompt("Can you refactor this?\n\n" + PY_CODE)
    assert {"code_fence", "fence_lang", "code_lines"} <= set(code.cues)
    assert classify_prompt("what's the weather like on mars").cues == ("default_chat",)


def test_system_prompt_sets_the_task_when_the_user_only_supplies_data() -> None:
    messages = conversation(
        "Tracking says delivered but nothing is at my door.",
        system="You route tickets. Reply with exactly one of: BILLING, SHIPPING, ACCOUNT, OTHER.",
    )
    result = classify_messages(messages)
    assert result.task == Task.CLASSIFICATION
    assert any(cue.startswith("sys:") for cue in result.cues)


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        (("Summarize this for me:\n\n" + ARTICLE, "The council approved a bike lane network...", "now make it shorter"),
         Task.SUMMARIZATION),
        (("Write a short poem about coffee.", "Dark and warm, the morning's friend...", "make it funnier"),
         Task.CREATIVE_WRITING),
        (("What's the probability of drawing two aces without replacement?", "It's 1/221.", "and with replacement?"),
         Task.REASONING),
        (("Write a Python function that parses ISO dates.", "def parse(s): ...", "now add type hints"),
         Task.CODE_GENERATION),
        (("For each one, tell me if it's sarcastic or sincere.", "Sure, paste them.",
          '1. "Oh great, another Monday. Exactly what I needed."\n2. "So proud of my sister today!"'),
         Task.CLASSIFICATION),
        (("I have a pandas dataframe with columns date, store_id, sales.", "What would you like to do?",
          "7-day rolling average per store"), Task.CODE_GENERATION),
        (("Here's our policy:\n\n" + ARTICLE, "Got it. What do you need?", "what's the cost and when does it start?"),
         Task.EXTRACTION),
    ],
    ids=["shorter-summary", "funnier-poem", "probability-variant", "code-follow-up", "bare-paste", "data-then-ask",
         "question-about-earlier-document"],
)
def test_short_follow_up_inherits_the_earlier_request(turns: tuple[str, ...], expected: Task) -> None:
    assert classify_messages(conversation(*turns)).task == expected


@pytest.mark.parametrize("thanks", ["thanks!", "perfect, thanks a lot!", "thank you so much, that's lovely!",
                                    "merci beaucoup !", "谢谢", "ok cool", "great, thank you!"])
def test_thanks_after_any_task_is_chat(thanks: str) -> None:
    result = classify_messages(conversation("Write a Python function to reverse a string.", "def r(s): ...", thanks))
    assert result.task == Task.CHAT


def test_a_new_self_contained_request_overrides_the_conversation() -> None:
    messages = conversation("Write a haiku about rain.", "Soft rain on the roof...", "Extract every date from this "
                            "text: the meeting moved from 3 May to 12 June, and the launch to 1 July.")
    assert classify_messages(messages).task == Task.EXTRACTION


def test_content_parts_are_read_and_images_ignored() -> None:
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "Summarize the attached page in 3 bullets."},
        {"type": "text", "text": ARTICLE},
    ]}]
    assert classify_messages(messages).task == Task.SUMMARIZATION


def test_a_huge_pasted_document_is_read_at_its_ends() -> None:
    filler = "The committee discussed the budget at length and reached no conclusion. " * 20_000
    assert classify_prompt("Summarize this report:\n\n" + filler).task == Task.SUMMARIZATION
    assert classify_prompt(filler + "\n\nWrite a haiku about this meeting.").task == Task.CREATIVE_WRITING


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "system", "content": "You are helpful."}], [{"role": "assistant", "content": "hi"}],
     [{"role": "user", "content": None}], [{"role": "user"}], [{"role": "user", "content": ""}],
     [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "hello", None, 42,
     [None, 3, "x"], {"role": "user", "content": "hi"}],
    ids=["empty", "system-only", "assistant-only", "none-content", "no-content", "empty-content", "image-only",
         "a-string", "none", "an-int", "junk-items", "a-mapping"],
)
def test_no_user_text_falls_back_to_chat_with_low_confidence(messages: Any) -> None:
    result = classify_messages(messages)
    assert result.task == Task.CHAT and result.confidence <= 0.1


def test_non_string_prompt_falls_back_to_chat() -> None:
    assert classify_prompt(None).task == Task.CHAT  # type: ignore[arg-type]


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=300),
                     st.binary(max_size=20))
_parts = st.one_of(
    _scalars,
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "input_audio", 3]),
                           "text": st.one_of(st.text(max_size=300), st.none(), st.integers())}),
    st.dictionaries(st.text(max_size=5), _scalars, max_size=3),
)
_content = st.one_of(_scalars, st.lists(_parts, max_size=5), st.dictionaries(st.text(max_size=5), _scalars, max_size=3))
_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "", None, 7]),
         "content": _content},
        optional={"name": st.text(max_size=5)},
    ),
    _scalars,
    st.lists(_scalars, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_message, max_size=8), st.tuples(_message, _message), _scalars))
def test_never_raises_on_odd_message_structures(messages: Any) -> None:
    result = classify_messages(messages)
    assert isinstance(result, Classification)
    assert isinstance(result.task, Task)
    assert 0.0 <= result.confidence <= 1.0
    assert all(isinstance(cue, str) and cue for cue in result.cues)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_never_raises_on_arbitrary_prompt_text(prompt: str) -> None:
    result = classify_prompt(prompt)
    assert isinstance(result.task, Task) and 0.0 <= result.confidence <= 1.0


def test_classification_is_deterministic_and_frozen() -> None:
    prompt = "Classify the sentiment of this review: 'meh'"
    assert classify_prompt(prompt) == classify_prompt(prompt)
    with pytest.raises(AttributeError):
        classify_prompt(prompt).task = Task.CHAT  # type: ignore[misc]


def _accuracy(path: Path) -> tuple[float, list[tuple[Task, Task]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(Task(row["task"]), classify_messages(row["messages"]).task) for row in rows]
    return sum(expected == got for expected, got in pairs) / len(pairs), pairs


@pytest.mark.skipif(not DEV_SET.exists(), reason=f"labelled dev set not found at {DEV_SET}")
def test_dev_set_accuracy_meets_the_floor(request: pytest.FixtureRequest) -> None:
    accuracy, pairs = _accuracy(DEV_SET)
    report = f"classifier accuracy on {DEV_SET.name}: {accuracy:.1%} ({len(pairs)} prompts)\n{_confusion_table(pairs)}"
    request.config.stash.setdefault(SUMMARY_KEY, []).append(report)
    assert accuracy >= 0.85


def test_regression_set_accuracy_stays_high(request: pytest.FixtureRequest) -> None:
    """493 prompts we wrote (8+ languages, pastes, follow-ups); used for tuning, so not a held-out figure."""
    accuracy, pairs = _accuracy(REGRESSION_SET)
    request.config.stash.setdefault(SUMMARY_KEY, []).append(
        f"classifier accuracy on {REGRESSION_SET.name}: {accuracy:.1%} ({len(pairs)} prompts)"
    )
    assert accuracy >= 0.95


def _confusion_table(pairs: list[tuple[Task, Task]]) -> str:
    """Rows are the labelled task, columns the predicted one."""
    counts = Counter(pairs)
    tasks = list(Task)
    width = max(len(t.value) for t in tasks)
    lines = [" " * width + " " + " ".join(f"{t.value[:5]:>5}" for t in tasks)]
    lines += [f"{row.value:>{width}} " + " ".join(f"{counts[(row, col)]:>5}" for col in tasks) for row in tasks]
    return "\n".join(lines)
