"""What `tagifai monitor` shows: the table on stdout, the JSON (MonitorResult.to_dict) and the Markdown report
with its PNG plots written beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from monitoring.plots import distribution_figure, tag_shares_figure
from monitoring.retention import format_duration

if TYPE_CHECKING:
    from monitoring.monitor import MonitorResult


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value and abs(value) < 10 ** -digits else f"{value:.{digits}f}"


def signal_rows(result: MonitorResult) -> list[tuple[str, str, str, str, str]]:
    return [(s.name, _num(s.statistic), _num(s.threshold), _num(s.p_value), "DRIFT" if s.drifted else "ok")
            for s in result.signals]


def summary_lines(result: MonitorResult) -> list[str]:
    e, key = result.estimate, result.window.key
    lines = [f"model: {result.model.name} version {result.model.version} ({result.role})",
             f"window: the last {format_duration(key.since)} ({key.start:%Y-%m-%d %H:%M:%S} to "
             f"{key.end:%Y-%m-%d %H:%M:%S} UTC): {result.window.rows} rows of {result.log_uri}",
             f"estimated accuracy: {e.accuracy:.4f} ± {e.std:.4f} (95%: {e.low:.4f}-{e.high:.4f})"]
    if result.measured is not None:
        m = result.measured
        lines.append(f"measured on {m.rows} labeled rows (by {m.key}): accuracy {m.accuracy:.4f}, weighted F1 "
                     f"{m.f1:.4f}; estimate on them {m.estimated_accuracy:.4f} "
                     f"({m.estimate_minus_measured:+.4f} from measured)")
    lines.append("drift: " + (", ".join(result.drifted) if result.drift else "none"))
    return lines


def table(result: MonitorResult) -> str:
    header = ("signal", "statistic", "threshold", "p-value", "drifted")
    rows = [header, *signal_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    body = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([*summary_lines(result), "", *body])


def figures(result: MonitorResult) -> dict:
    """File suffix -> figure: tag shares, confidence and (when both sides have one) OOV share against the reference."""
    window, profile = result.window, result.profile
    found = {
        "tag_shares": tag_shares_figure({t: c / window.rows for t, c in window.tag_counts.items()},
                                        profile["tag_shares"]),
        "confidence": distribution_figure(window.confidence, np.asarray(profile["confidence"]),
                                          "Confidence (top probability): window vs reference", "confidence"),
    }
    if window.oov_share is not None and profile.get("oov_share"):
        found["oov_share"] = distribution_figure(window.oov_share, np.asarray(profile["oov_share"]),
                                                 "Out-of-vocabulary share: window vs reference", "OOV share")
    return found


def markdown(result: MonitorResult, images: dict[str, str]) -> str:
    lines = [f"# Monitoring report: {result.model.name} version {result.model.version} ({result.role})", ""]
    lines += [f"- {line}" for line in summary_lines(result)]
    lines += ["", "| signal | statistic | threshold | p-value | drifted |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in signal_rows(result)]
    if result.measured is not None:
        lines += ["", "Per-class F1 (measured):", "", "| tag | F1 |", "|---|---|"]
        lines += [f"| {tag} | {f1:.4f} |" for tag, f1 in result.measured.per_class.items()]
    for name, file in images.items():
        lines += ["", f"![{name}]({file})"]
    return "\n".join(lines) + "\n"


def write_report(result: MonitorResult, path: Path) -> Path:
    """The Markdown report at `path`, its PNGs beside it as <stem>_<plot>.png."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, fig in figures(result).items():
        file = f"{path.stem}_{name}.png"
        fig.savefig(path.parent / file, dpi=100)
        images[name] = file
    path.write_text(markdown(result, images))
    return path


def report_files(path: Path) -> list[Path]:
    """The report and the PNGs write_report put beside it."""
    return [path, *sorted(path.parent.glob(f"{path.stem}_*.png"))]
