"""What a check says: pass / warn / fail, what it saw, what it expected, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    observed: dict[str, Any]
    expected: dict[str, Any]
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    """All checks of one table version (and partition). ``passed`` means no failure."""

    table: str
    version: int | None
    partition: str | None = None
    results: list[CheckResult] = field(default_factory=list)
    report_id: str = ""

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.results)

    @property
    def reasons(self) -> list[str]:
        """One sentence per failed check, naming the problem (for a held pipeline run)."""
        return [r.message for r in self.results if r.failed]

    @property
    def warnings(self) -> list[str]:
        return [r.message for r in self.results if r.status == "warn"]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "version": self.version,
            "partition": self.partition,
            "passed": self.passed,
            "reasons": self.reasons,
            "report_id": self.report_id,
            "results": [r.to_dict() for r in self.results],
        }
