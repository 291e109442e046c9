"""Durations as squeue writes them. No imports: the CLI uses it on every listing."""

from __future__ import annotations


def format_duration(seconds: int | None) -> str:
    """squeue's TIME column: "M:SS", "H:MM:SS" or "D-HH:MM:SS"; None is "UNLIMITED"."""
    if seconds is None:
        return "UNLIMITED"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
