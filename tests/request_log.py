"""Budget measures over a simulator's request log: the most calls in any window, the most at once."""

from __future__ import annotations


def max_in_any_window(times: list[float], window: float) -> int:
    """The most calls that started within any `window` seconds."""
    times = sorted(times)
    best = start = 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def max_concurrent(intervals: list[tuple[float, float]]) -> int:
    """The most calls in flight at any moment (an end and a start at the same instant do not overlap)."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    current = best = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best
