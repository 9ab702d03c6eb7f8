"""Turn quality.py's scored rows into Pareto tables per size, a PNG plot and one JSON line.

Two distances (content, style; lower is better) do not make one ranking: a setting can only
dominate another (no worse on both, better on one) or trade one for the other. So the tables say
which points are on the Pareto front, and how each engine setting stands against pastiche and the
TF tutorial, averaged over the pairs every method has at that size, and pair by pair.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ORDER = {"photo": 0, "pastiche": 1, "tutorial": 2, "engine": 3}
Point = tuple[float, float]


def label(row: dict[str, Any]) -> str:
    """One series point: the method, and for the engine its setting."""
    return f"engine {row['setting']}" if row["method"] == "engine" else row["method"]


def sort_key(name: str) -> tuple[int, str, float]:
    """Reference photo, pastiche, tutorial, then engine settings by series and numeric value."""
    method = name.split(" ", 1)[0]
    series, value = engine_series(name) if method == "engine" else ("", 0.0)
    return ORDER.get(method, 9), series, value


def engine_series(name: str) -> tuple[str, float]:
    """'engine style_weight=0.1 {...}' -> ('style_weight {...}', 0.1): a sweep line and its x."""
    match = re.match(r"engine (\w+)=([^ ]+)(.*)", name)
    if not match:
        return name, 0.0
    return f"{match[1]}{match[3]}", float(match[2])


def dominates(a: Point, b: Point) -> bool:
    """No worse on both distances and strictly better on one."""
    return a[0] <= b[0] and a[1] <= b[1] and a != b


def versus(a: Point, b: Point | None) -> str:
    """How point a stands against baseline b, in words for the table."""
    if b is None:
        return "-"
    if a == b:
        return "equal"
    if dominates(a, b):
        return "**dominates**"
    return "dominated" if dominates(b, a) else "trade-off"


def by_size(rows: list[dict[str, Any]]) -> dict[int, dict[str, dict[tuple[str, str], dict]]]:
    """size -> label -> (content, style) pair -> row."""
    table: dict[int, dict[str, dict[tuple[str, str], dict]]] = defaultdict(dict)
    for row in rows:
        table[row["size"]].setdefault(label(row), {})[(row["content"], row["style"])] = row
    return table


def summarize(points: dict[str, dict[tuple[str, str], dict]]) -> dict[str, Any]:
    """Means over the pairs every point has, the front, and the comparisons with the baselines."""
    pairs = sorted(set.intersection(*(set(p) for p in points.values())))
    means = {
        name: (
            float(np.mean([rows[p]["content_distance"] for p in pairs])),
            float(np.mean([rows[p]["style_distance"] for p in pairs])),
            float(np.mean([rows[p]["wall_s"] for p in pairs])),
        )
        for name, rows in points.items()
    }
    rivals = [n for n in means if n != "photo"]
    front = {n for n in rivals if not any(dominates(means[o][:2], means[n][:2]) for o in rivals)}
    curves = {b: against_curve(points, pairs, b) for b in ("pastiche", "tutorial") if b in points}
    return {
        "pairs": pairs,
        "means": means,
        "front": sorted(front, key=sort_key),
        "curves": curves,
        "no_worse": {n: no_worse_counts(points, n, pairs) for n in means},
    }


def no_worse_counts(
    points: dict[str, dict[tuple[str, str], dict]], name: str, pairs: list[tuple[str, str]]
) -> dict[str, int]:
    """Per baseline, the number of pairs where ``name`` is no worse on both distances."""
    counts = {}
    for base in ("pastiche", "tutorial"):
        if base not in points:
            continue
        counts[base] = sum(
            points[name][p]["content_distance"] <= points[base][p]["content_distance"]
            and points[name][p]["style_distance"] <= points[base][p]["style_distance"]
            for p in pairs
        )
    return counts


def markdown(size: int, summary: dict[str, Any], iterations: set[int]) -> str:
    """The Pareto table of one size, as it goes into benchmarks/README.md."""
    means, front, pairs = summary["means"], set(summary["front"]), summary["pairs"]
    n = len(pairs)
    lines = [
        f"**{size} px**, {n} pairs, {'/'.join(map(str, sorted(iterations - {0})))} iterations "
        "(means over the pairs; lower is better)",
        "",
        "| method / setting | content distance | style distance | Pareto front | vs pastiche "
        "| vs tutorial | pairs no worse than pastiche on both | pairs no worse than tutorial "
        "on both | wall s (mean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(means, key=sort_key):
        c, s, wall = means[name]
        counts = summary["no_worse"][name]
        cells = [
            "photo (the content photo itself)" if name == "photo" else name,
            f"{c:.3f}",
            f"{s:.3f}",
            "yes" if name in front else "",
            versus((c, s), means["pastiche"][:2]) if "pastiche" in means else "-",
            versus((c, s), means["tutorial"][:2]) if "tutorial" in means else "-",
            f"{counts['pastiche']}/{n}" if "pastiche" in counts else "-",
            f"{counts['tutorial']}/{n}" if "tutorial" in counts else "-",
            "-" if name == "photo" else f"{wall:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *curve_lines(summary)])


def curve_at(points: list[Point], content: float) -> float | None:
    """The sweep's style distance at ``content``, linear between neighbouring settings."""
    for (c0, s0), (c1, s1) in itertools.pairwise(points):  # in the sweep's order
        if min(c0, c1) <= content <= max(c0, c1) and c1 != c0:
            return s0 + (s1 - s0) * (content - c0) / (c1 - c0)
    return None


def sweeps(points: dict[str, Point]) -> dict[str, list[Point]]:
    """Engine points grouped into sweep lines, each in the order of its swept value."""
    lines: dict[str, list[Point]] = defaultdict(list)
    for name in sorted(points, key=sort_key):
        if name.startswith("engine "):
            lines[engine_series(name)[0]].append(points[name])
    return {series: line for series, line in lines.items() if len(line) >= 2}


def against_curve(
    points: dict[str, dict[tuple[str, str], dict]], pairs: list[tuple[str, str]], base: str
) -> dict[str, dict[str, int]]:
    """Per sweep, in how many pairs the baseline lies below / above the engine's curve."""
    verdicts: dict[str, dict[str, int]] = defaultdict(lambda: {"below": 0, "above": 0, "out": 0})
    for pair in pairs:
        per_pair = {
            n: (rows[pair]["content_distance"], rows[pair]["style_distance"])
            for n, rows in points.items()
        }
        for series, line in sweeps(per_pair).items():
            at = curve_at(line, per_pair[base][0])
            side = "out" if at is None else "below" if per_pair[base][1] < at else "above"
            verdicts[series][side] += 1
    return dict(verdicts)


def curve_lines(summary: dict[str, Any]) -> list[str]:
    """One sentence per baseline and sweep: is the baseline above or below the engine's curve?"""
    means = {name: m[:2] for name, m in summary["means"].items()}
    lines = []
    for base, per_series in summary["curves"].items():
        for series, line in sweeps(means).items():
            c, s = means[base]
            at = curve_at(line, c)
            where = "outside the sweep's range" if at is None else f"style {at:.3f}"
            counts = per_series.get(series, {})
            lines.append(
                f"- engine {series} sweep at {base}'s mean content distance {c:.3f}: {where} "
                f"({base}: {s:.3f}); pair by pair, {base} lies below the engine's curve in "
                f"{counts.get('below', 0)}, above it in {counts.get('above', 0)}, outside the "
                f"sweep's content range in {counts.get('out', 0)} of {len(summary['pairs'])}"
            )
    return lines


def plot(summaries: dict[int, dict[str, Any]], path: Path) -> None:
    """x = content distance, y = style distance; one panel per size, the sweep as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 5.2), squeeze=False)
    for ax, (size, summary) in zip(axes[0], sorted(summaries.items()), strict=True):
        draw_panel(ax, summary)
        ax.set_title(f"{size} px, mean over {len(summary['pairs'])} pairs")
        ax.set_xlabel("content distance (block4_conv2, relative)  →  worse")
        ax.set_ylabel("style distance (5 Grams, relative)  →  worse")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_panel(ax: Any, summary: dict[str, Any]) -> None:
    """One size: baselines as single markers, each engine sweep as a labelled line."""
    means = summary["means"]
    styles = {"photo": ("x", "grey"), "pastiche": ("s", "tab:red"), "tutorial": ("^", "tab:green")}
    for name, (marker, colour) in styles.items():
        if name in means:
            ax.scatter(*means[name][:2], marker=marker, color=colour, s=70, label=name, zorder=3)
    sweeps: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for name in means:
        if name.startswith("engine "):
            series, value = engine_series(name)
            sweeps[series].append((value, name))
    for series, members in sweeps.items():
        members.sort()
        xs = [means[n][0] for _, n in members]
        ys = [means[n][1] for _, n in members]
        ax.plot(xs, ys, "o-", label=f"engine, {series} sweep", zorder=2)
        for index, ((value, _), x, y) in enumerate(zip(members, xs, ys, strict=True)):
            offset = (6, 4) if index % 2 == 0 else (-4, -12)  # alternate: near points overlap
            ax.annotate(f"{value:g}", (x, y), textcoords="offset points", xytext=offset, fontsize=8)


def report(rows: list[dict[str, Any]], plot_path: Path, as_json: bool) -> None:
    """Print one Markdown table per size, write the plot, and optionally one JSON line."""
    summaries = {}
    for size, points in sorted(by_size(rows).items()):
        summaries[size] = summarize(points)
        iterations = {r["iterations"] for p in points.values() for r in p.values()}
        print(markdown(size, summaries[size], iterations) + "\n")
    if summaries:
        plot(summaries, plot_path)
        print(f"plot: {plot_path}")
    if as_json:
        print(
            json.dumps(
                {
                    "rows": rows,
                    "summaries": {
                        size: {**s, "pairs": [list(p) for p in s["pairs"]]}
                        for size, s in summaries.items()
                    },
                }
            )
        )
