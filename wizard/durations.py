"""Durations as an operator reads them: "3 s", "5 min", "1 min 30 s", "72 h".

Why one helper: options are kept in seconds, and printing them raw ("0.05 min", "300s") in step
descriptions, waits and messages made the same window read differently in different places.
"""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """Seconds below a minute keep one decimal when they have one ("2.5 s"); longer spans are
    rounded to whole seconds and spelled with the largest units that fit ("1 h 5 min")."""
    if seconds < 0:
        seconds = 0.0
    if 0 < seconds < 1:
        return f"{seconds:.2g} s"
    if seconds < 60 and round(seconds, 1) < 60:
        return f"{round(seconds, 1):g} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)
