"""Data checks and gates: pure rules over columns, and ``run_checks`` for a table."""

from kibble.checks.result import CheckReport, CheckResult

__all__ = ["CheckReport", "CheckResult", "run_checks"]


def __getattr__(name: str) -> object:
    if name == "run_checks":  # lazy: the runner pulls in the store and the lake
        from kibble.checks.runner import run_checks

        return run_checks
    raise AttributeError(name)
