"""The demo's sample requests: a mix of the seven task types, as users would send them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoRequest:
    """One request of the workload; `max_tokens` shapes the simulated answer length."""

    label: str
    prompt: str
    max_tokens: int
    stream: bool = False


WORKLOAD: tuple[DemoRequest, ...] = (
    DemoRequest(
        "sentiment",
        "Classify the sentiment of this review as positive, negative or neutral: "
        "'The battery died after two days and support never answered.'",
        5,
    ),
    DemoRequest(
        "intent",
        "Which intent is this: 'I want to cancel my subscription'? Options: billing, cancellation, technical, other.",
        5,
    ),
    DemoRequest(
        "tl;dr",
        "Summarize in two sentences: The city council met on Tuesday to discuss the new "
        "bike lanes. After three hours of debate, members voted 7-2 to fund a pilot on Main Street, "
        "starting in spring, with a review after six months.",
        60,
    ),
    DemoRequest(
        "extract",
        "Extract the name, email and order number as JSON from: 'Hi, this is Dana Reyes "
        "(dana@example.com), my order #48213 never arrived.'",
        60,
    ),
    DemoRequest(
        "code",
        "Write a Python function that merges two sorted lists into one sorted list, with a docstring and tests.",
        200,
        stream=True,
    ),
    DemoRequest(
        "sql",
        "Write a SQL query that returns the ten customers with the highest total order "
        "value in 2025, from tables customers(id, name) and orders(customer_id, total, created_at).",
        150,
    ),
    DemoRequest(
        "reasoning",
        "A train leaves at 9:40 and travels 210 km at 84 km/h, then waits 12 minutes and "
        "travels 95 km at 76 km/h. When does it arrive? Reason step by step.",
        300,
    ),
    DemoRequest(
        "plan",
        "Plan a migration of a 2 TB PostgreSQL database to a new region with under five "
        "minutes of downtime. Think through the trade-offs step by step.",
        400,
    ),
    DemoRequest(
        "story",
        "Write a short story about a lighthouse keeper who finds a message in a bottle from her future self.",
        500,
        stream=True,
    ),
    DemoRequest("chat", "Thanks, that was helpful! How's your day going?", 30),
    DemoRequest("fact", "How long can cooked rice stay in the fridge?", 40),
    DemoRequest("moderation", "Tag this comment as spam or not spam: 'CLICK HERE to win a FREE phone!!!'", 5),
)
