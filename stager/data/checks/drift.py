"""Drift against the previous manifest's per-split statistics.

Schema drift: a split appears or disappears, the sample shape, input dtype,
feature names (CSV columns), label dtype or set of classes changes.
Distribution drift, only where the schema is unchanged: a feature's (or
channel's) mean moves more than ``max_mean_shift`` of its previous standard
deviation, its standard deviation grows or shrinks by more than
``max_std_ratio``, or the label distribution moves more than ``max_label_tv``
in total variation distance (half the sum of absolute differences of the class
frequencies).  Only the summaries kept in the manifest are compared, so a
change that leaves every per-feature mean and spread alone goes unseen.
"""

from __future__ import annotations

import math

from stager.data.checks.findings import Finding


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _schema_changes(now: dict, before: dict) -> list[str]:
    changes = []
    x_now, x_before = now.get("inputs") or {}, before.get("inputs") or {}
    if x_now and x_before:
        if x_now.get("shape") != x_before.get("shape"):
            changes.append(f"sample shape {x_before.get('shape')} -> {x_now.get('shape')}")
        if x_now.get("dtype") != x_before.get("dtype"):
            changes.append(f"input dtype {x_before.get('dtype')} -> {x_now.get('dtype')}")
        if (x_now.get("summary") == x_before.get("summary") == "features"
                and x_now.get("names") != x_before.get("names") and x_now.get("shape") == x_before.get("shape")):
            gone = [n for n in x_before.get("names") or [] if n not in (x_now.get("names") or [])]
            new = [n for n in x_now.get("names") or [] if n not in (x_before.get("names") or [])]
            changes.append("columns changed" + (f": new {', '.join(new)}" if new else "")
                           + (f"; gone {', '.join(gone)}" if gone else ""))
    y_now, y_before = now.get("labels") or {}, before.get("labels") or {}
    if y_now and y_before:
        if y_now.get("dtype") != y_before.get("dtype"):
            changes.append(f"label dtype {y_before.get('dtype')} -> {y_now.get('dtype')}")
        if y_now.get("names") and y_before.get("names") and y_now["names"] != y_before["names"]:
            changes.append("class names changed")
        new = sorted(set(y_now.get("classes") or []) - set(y_before.get("classes") or []))
        gone = sorted(set(y_before.get("classes") or []) - set(y_now.get("classes") or []))
        if new:
            changes.append(f"new classes {', '.join(map(str, new[:10]))}")
        if gone:
            changes.append(f"classes gone {', '.join(map(str, gone[:10]))}")
    elif bool(y_now) != bool(y_before):
        changes.append("labels appeared" if y_now else "labels disappeared")
    return changes


def _feature_shifts(now: dict, before: dict, options: dict) -> list[dict]:
    x_now, x_before = now.get("inputs") or {}, before.get("inputs") or {}
    if not x_now or not x_before or x_now.get("names") != x_before.get("names"):
        return []
    if x_now.get("shape") != x_before.get("shape") or x_now.get("summary") != x_before.get("summary"):
        return []
    max_shift, max_ratio = options["max_mean_shift"], options["max_std_ratio"]
    moved = []
    rows = zip(x_now.get("names") or [], x_now.get("means") or [], x_now.get("stds") or [],
               x_before.get("means") or [], x_before.get("stds") or [], strict=False)
    for name, mean, std, old_mean, old_std in rows:
        mean, std, old_mean, old_std = map(_num, (mean, std, old_mean, old_std))
        if None in (mean, std, old_mean, old_std):
            continue
        scale = max(old_std, 1e-12 * max(1.0, abs(old_mean)))
        shift = (mean - old_mean) / scale
        if old_std > 0 and std > 0:
            ratio = max(std / old_std, old_std / std)
        else:
            ratio = 1.0 if old_std == std else math.inf
        if abs(shift) > max_shift or ratio > max_ratio:
            moved.append({"feature": name, "previous_mean": old_mean, "mean": mean, "previous_std": old_std,
                          "std": std, "shift": round(shift, 4) if math.isfinite(shift) else None,
                          "std_ratio": round(ratio, 4) if math.isfinite(ratio) else None})
    return moved


def label_tv(now: dict, before: dict) -> float | None:
    """Total variation distance between two label histograms ({"class": count})."""
    total_now, total_before = sum(now.values()), sum(before.values())
    if not total_now or not total_before:
        return None
    keys = set(now) | set(before)
    return 0.5 * sum(abs(now.get(k, 0) / total_now - before.get(k, 0) / total_before) for k in keys)


def drift_findings(current: dict, previous: dict, options: dict, level: str, limit: int) -> list[Finding]:
    """Findings for every split whose statistics moved beyond the thresholds in ``options``."""
    found = []
    for name in previous:
        if name not in current:
            found.append(Finding("drift", level, name, None, (), 1, f"split {name} was in the previous version, "
                                 "not in this one", {"kind": "schema"}))
    for name, now in current.items():
        if name in previous and not isinstance(previous[name], dict):
            continue  # a damaged entry: nothing to compare with
        before = previous.get(name)
        if before is None:
            found.append(Finding("drift", level, name, None, (), 1, f"split {name} is new since the previous version",
                                 {"kind": "schema"}))
            continue
        changes = _schema_changes(now, before)
        if changes:
            found.append(Finding("drift", level, name, None, (), len(changes), "schema changed: " + "; ".join(changes),
                                 {"kind": "schema", "changes": changes}))
            continue
        moved = _feature_shifts(now, before, options)
        if moved:
            total = len((now.get("inputs") or {}).get("names") or [])
            shown = ", ".join(f"{m['feature']} ({m['shift']:+.2f} std)" if m["shift"] is not None else m["feature"]
                              for m in moved[:4])
            found.append(Finding(
                "drift", level, name, None, (), len(moved),
                f"{len(moved)} of {total} input summaries moved beyond mean shift {options['max_mean_shift']} std "
                f"or std ratio {options['max_std_ratio']}: {shown}",
                {"kind": "distribution", "features": moved[:limit]}))
        counts_now = ((now.get("labels") or {}).get("counts")) or {}
        counts_before = ((before.get("labels") or {}).get("counts")) or {}
        tv = label_tv(counts_now, counts_before)
        if tv is not None and tv > options["max_label_tv"]:
            found.append(Finding("drift", level, name, None, (), 1,
                                 f"label distribution moved: total variation {tv:.3f} > {options['max_label_tv']}",
                                 {"kind": "labels", "tv": round(tv, 4)}))
    return found
