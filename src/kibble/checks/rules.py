"""The checks themselves: pure functions of columns, contracts and numbers.

Every function takes Polars/Arrow data (never loops over rows in Python) and returns a
``CheckResult`` whose message names the problem and what to do, so a held run can show
it to a person as is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from kibble.checks import stats
from kibble.checks.result import CheckResult, Status
from kibble.checks.rows import _rules, polars_type
from kibble.data.contracts.model import Contract, DriftRule, ForeignKey, VolumeRule
from kibble.monitoring.drift import categorical_psi, ks_statistic, numeric_psi


def _result(name: str, status: Status, observed: dict, expected: dict, message: str) -> CheckResult:  # type: ignore[type-arg]
    return CheckResult(name, status, observed, expected, message)


def check_schema(schema: pl.Schema | dict[str, pl.DataType], contract: Contract) -> CheckResult:
    """Columns present with the contract's types (wrong types fail)."""
    missing = [c.name for c in contract.columns if c.name not in schema]
    wrong = {
        c.name: str(schema[c.name])
        for c in contract.columns
        if c.name in schema and schema[c.name] != polars_type(c) and schema[c.name] != pl.Null
    }
    expected = {c.name: str(polars_type(c)) for c in contract.columns}
    if not missing and not wrong:
        return _result("schema", "pass", {"columns": len(schema)}, expected, "schema matches")
    parts = []
    if missing:
        parts.append(f"missing columns {', '.join(missing)}")
    if wrong:
        parts.append(
            "wrong types: "
            + ", ".join(f"{k} is {v}, expected {expected[k]}" for k, v in wrong.items())
        )
    return _result(
        "schema",
        "fail",
        {"missing": missing, "wrong_types": wrong},
        expected,
        f"{contract.name} does not match its contract: {'; '.join(parts)}; "
        "fix the producer or map the columns",
    )


def value_rule_exprs(contract: Contract, columns: list[str]) -> list[pl.Expr]:
    """One aggregate per row rule (rows breaking it), named by the rule's sentence."""
    exprs = []
    for column in contract.columns:
        if column.name not in columns:
            continue
        col = pl.col(column.name)
        for mask, text in _rules(column, col, col)[1:]:
            exprs.append(mask.fill_null(False).sum().alias(text))
    return exprs


def values_result(counts: dict[str, int], rows: int, contract: Contract) -> CheckResult:
    """Judge the per-rule violation counts of :func:`value_rule_exprs`."""
    bad = {k: int(v) for k, v in counts.items() if v}
    if not bad:
        return _result("values", "pass", {"rows": rows}, {"violations": 0}, "all values valid")
    worst = ", ".join(f"{k} ({n} rows)" for k, n in sorted(bad.items(), key=lambda x: -x[1])[:5])
    return _result(
        "values",
        "fail",
        {"violations": bad},
        {"violations": 0},
        f"{contract.name} has invalid values: {worst}; quarantine or fix these rows",
    )


def check_values(frame: pl.DataFrame, contract: Contract) -> CheckResult:
    """Nulls, ranges, allowed values and patterns, counted per rule."""
    exprs = value_rule_exprs(contract, frame.columns)
    counts = frame.select(exprs).row(0, named=True) if exprs and frame.height else {}
    return values_result(counts, frame.height, contract)


def duplicate_keys_result(duplicates: int, contract: Contract) -> CheckResult:
    """``duplicates``: rows minus distinct keys."""
    if not contract.key:
        return _result("duplicate_keys", "pass", {}, {}, "no key declared")
    key = ", ".join(contract.key)
    if duplicates == 0:
        return _result(
            "duplicate_keys", "pass", {"duplicates": 0}, {"duplicates": 0}, "keys unique"
        )
    return _result(
        "duplicate_keys",
        "fail",
        {"duplicates": duplicates},
        {"duplicates": 0},
        f"{contract.name} has {duplicates} rows with duplicate keys ({key}); "
        "reload with dedup (`kibble ingest`) or fix the writer",
    )


def check_duplicate_keys(frame: pl.DataFrame, contract: Contract) -> CheckResult:
    if not contract.key:
        return duplicate_keys_result(0, contract)
    dupes = frame.height - frame.select(contract.key).n_unique() if frame.height else 0
    return duplicate_keys_result(dupes, contract)


def foreign_key_result(
    unknown: int, present: int, sample: list[str], fk: ForeignKey
) -> CheckResult:
    """``unknown`` of ``present`` (non-null) values are missing from the referenced table."""
    name = f"foreign_key:{fk.column}"
    if unknown == 0:
        return _result(name, "pass", {"unknown": 0}, {"unknown": 0}, f"every {fk.column} is known")
    return _result(
        name,
        "fail",
        {
            "unknown": unknown,
            "unknown_share": round(unknown / max(present, 1), 6),
            "sample": sample,
        },
        {"unknown": 0},
        f"{unknown} rows reference unknown {fk.table} ids in {fk.column} "
        f"(e.g. {', '.join(sample)}); load {fk.table} first or fix the ids",
    )


def check_foreign_key(values: pl.Series, reference: pl.Series, fk: ForeignKey) -> CheckResult:
    """Every value of ``fk.column`` exists in the referenced table's column."""
    present = values.drop_nulls()
    unknown = present.filter(~present.is_in(reference.unique().implode()))
    sample = [str(v) for v in unknown.unique().sort().head(5).to_list()]
    return foreign_key_result(unknown.len(), present.len(), sample, fk)


def check_rejected(
    rejected: int, accepted: int, reasons: dict[str, int], max_share: float, label: str
) -> CheckResult:
    """Rows the loads sent to quarantine (broken types, bad values) against those kept."""
    total = rejected + accepted
    share = rejected / total if total else 0.0
    observed: dict[str, object] = {
        "rejected": rejected,
        "accepted": accepted,
        "share": round(share, 6),
    }
    if reasons:
        observed["reasons"] = reasons
    expected = {"max_share": max_share}
    if rejected == 0:
        return _result("rejected", "pass", observed, expected, "no rows rejected")
    top = "; ".join(f"{text} ({n} rows)" for text, n in list(reasons.items())[:3])
    status: Status = "fail" if share > max_share else "warn"
    return _result(
        "rejected",
        status,
        observed,
        expected,
        f"{label}: {rejected:,} rows ({share:.1%}) were rejected into quarantine "
        f"({top}); fix the source and load it again",
    )


def deadline_of(partition: date, hours: float) -> datetime:
    return datetime.combine(partition, time(), UTC) + timedelta(days=1, hours=hours)


def check_freshness(
    partition: date, arrived_at: datetime | None, hours: float, now: datetime
) -> CheckResult:
    """The partition for a day arrived by its deadline (late or missing data fails)."""
    deadline = deadline_of(partition, hours)
    expected = {"deadline": deadline.isoformat()}
    if arrived_at is None:
        status: Status = "fail" if now > deadline else "warn"
        return _result(
            "freshness",
            status,
            {"arrived_at": None},
            expected,
            f"partition {partition} has not arrived (due {deadline:%Y-%m-%d %H:%M} UTC); "
            "check the upstream export",
        )
    if arrived_at <= deadline:
        return _result(
            "freshness", "pass", {"arrived_at": arrived_at.isoformat()}, expected, "on time"
        )
    late = arrived_at - deadline
    return _result(
        "freshness",
        "fail",
        {"arrived_at": arrived_at.isoformat(), "late_hours": round(late.total_seconds() / 3600, 2)},
        expected,
        f"partition {partition} is late: it arrived {late.total_seconds() / 3600:.1f} h after "
        f"its deadline {deadline:%Y-%m-%d %H:%M} UTC; confirm it is complete before training",
    )


def check_volume(count: int, history: list[int], rule: VolumeRule, label: str) -> CheckResult:
    """Row count against a robust band from the trailing partitions."""
    history = history[-rule.window :]
    if len(history) < rule.min_history:
        return _result(
            "volume",
            "warn",
            {"rows": count, "history": len(history)},
            {"min_history": rule.min_history},
            f"volume of {label} not judged: only {len(history)} earlier partitions "
            f"(need {rule.min_history})",
        )
    low, median, high = stats.robust_band(history, rule.k, rule.min_relative_width)
    expected = {"low": round(low), "median": round(median), "high": round(high)}
    if low <= count <= high:
        return _result("volume", "pass", {"rows": count}, expected, "volume within band")
    word = "too low" if count < low else "too high"
    return _result(
        "volume",
        "fail",
        {"rows": count, "ratio_to_median": round(count / median, 3) if median else None},
        expected,
        f"volume of {label} is {word}: {count:,} rows against a usual {median:,.0f} "
        f"(band {low:,.0f}-{high:,.0f}); the load may be incomplete or duplicated",
    )


def check_drift(current: pl.Series, reference: pl.Series, rule: DriftRule) -> CheckResult:
    """PSI (categorical or binned numeric) and KS (numeric) against a reference window."""
    name = f"drift:{rule.column}"
    if current.len() == 0 or reference.len() == 0:
        return _result(name, "warn", {}, {}, f"drift of {rule.column} not judged: no reference")
    observed: dict[str, float] = {}
    if rule.kind == "categorical":
        ref = dict(reference.cast(pl.String).value_counts().iter_rows())
        cur = dict(current.cast(pl.String).value_counts().iter_rows())
        observed["psi"] = round(categorical_psi(ref, cur), 4)
    else:
        ref_values = reference.drop_nulls().cast(pl.Float64).to_numpy()
        cur_values = current.drop_nulls().cast(pl.Float64).to_numpy()
        observed["psi"] = round(numeric_psi(ref_values, cur_values, rule.bins), 4)
        observed["ks"] = round(ks_statistic(ref_values, cur_values), 4)
    expected = {"psi_warn": rule.psi_warn, "psi_fail": rule.psi_fail, "ks_fail": rule.ks_fail}
    psi, ks = observed["psi"], observed.get("ks", 0.0)
    fail = psi >= rule.psi_fail or (rule.ks_fail is not None and ks >= rule.ks_fail)
    if fail:
        return _result(
            name,
            "fail",
            observed,
            expected,
            f"distribution of {rule.column} shifted (PSI {psi:.3f}"
            + (f", KS {ks:.3f}" if "ks" in observed else "")
            + ") against the reference window; check the source before training on it",
        )
    if psi >= rule.psi_warn:
        return _result(
            name, "warn", observed, expected, f"distribution of {rule.column} moved (PSI {psi:.3f})"
        )
    return _result(name, "pass", observed, expected, f"{rule.column} is stable")
