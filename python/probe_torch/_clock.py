"""Timestamps as JavaScript's Date.toISOString() writes them: 2025-01-31T12:00:00.000Z."""
from datetime import datetime, timezone


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
