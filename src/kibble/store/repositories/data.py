"""SQL of the data area: datasets, their versions, loads and check results."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.store.models import CheckResultRecord, DataLoad, Dataset, TableVersion, utcnow


class DataRecords:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    # datasets -------------------------------------------------------------
    def find_dataset(self, name: str) -> Dataset | None:
        return self.session.scalar(
            sa.select(Dataset).where(Dataset.project_id == self.project_id, Dataset.name == name)
        )

    def dataset(self, name: str) -> Dataset:
        found = self.find_dataset(name)
        if found is None:
            raise NotFoundError(
                f"table {name!r} is not known in this project",
                hint="list tables with `kibble tables list` or load one with `kibble ingest`",
            )
        return found

    def ensure_dataset(self, name: str, uri: str, contract: dict[str, Any]) -> Dataset:
        found = self.find_dataset(name)
        if found is not None:
            if found.contract != contract:
                found.contract = contract
            return found
        try:
            with self.session.begin_nested():
                dataset = Dataset(project_id=self.project_id, name=name, uri=uri, contract=contract)
                self.session.add(dataset)
            return dataset
        except sa.exc.IntegrityError:
            return self.dataset(name)

    def datasets(self) -> list[Dataset]:
        query = sa.select(Dataset).where(Dataset.project_id == self.project_id)
        return list(self.session.scalars(query.order_by(Dataset.name)))

    # versions -------------------------------------------------------------
    def record_version(
        self,
        dataset: Dataset,
        version: int,
        *,
        row_count: int,
        operation: str,
        details: dict[str, Any],
        run_id: str | None = None,
    ) -> TableVersion:
        existing = self.session.scalar(
            sa.select(TableVersion).where(
                TableVersion.dataset_id == dataset.id, TableVersion.version == version
            )
        )
        if existing is not None:
            return existing
        record = TableVersion(
            project_id=self.project_id,
            dataset_id=dataset.id,
            version=version,
            row_count=row_count,
            operation=operation,
            details=details,
            run_id=run_id,
        )
        self.session.add(record)
        return record

    def versions(self, dataset: Dataset, limit: int = 100) -> list[TableVersion]:
        query = (
            sa.select(TableVersion)
            .where(
                TableVersion.project_id == self.project_id, TableVersion.dataset_id == dataset.id
            )
            .order_by(TableVersion.version.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    # loads ----------------------------------------------------------------
    def start_load(self, dataset: Dataset, **fields: Any) -> DataLoad:
        load = DataLoad(project_id=self.project_id, dataset_id=dataset.id, **fields)
        self.session.add(load)
        self.session.flush()
        return load

    def load(self, load_id: str) -> DataLoad:
        found = self.session.scalar(
            sa.select(DataLoad).where(
                DataLoad.project_id == self.project_id, DataLoad.id == load_id
            )
        )
        if found is None:
            raise NotFoundError(f"load {load_id} is not recorded in this project")
        return found

    def finish_load(self, load_id: str, **fields: Any) -> DataLoad:
        load = self.load(load_id)
        for key, value in fields.items():
            setattr(load, key, value)
        load.finished_at = utcnow()
        return load

    def loads(self, dataset: Dataset, limit: int = 100) -> list[DataLoad]:
        query = (
            sa.select(DataLoad)
            .where(DataLoad.project_id == self.project_id, DataLoad.dataset_id == dataset.id)
            # created_at is when the data arrived: a file loaded twice shares it, so the
            # load that finished last comes first
            .order_by(DataLoad.created_at.desc(), DataLoad.finished_at.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def first_arrival(self, dataset: Dataset, partition: str) -> DataLoad | None:
        """The first successful load that wrote rows into ``partition``."""
        query = (
            sa.select(DataLoad)
            .where(
                DataLoad.project_id == self.project_id,
                DataLoad.dataset_id == dataset.id,
                DataLoad.status == "succeeded",
                DataLoad.rows_written > 0,
            )
            .order_by(DataLoad.created_at)
        )
        for load in self.session.scalars(query):
            if partition in (load.partitions or []):
                return load
        return None

    # checks ---------------------------------------------------------------
    def record_checks(self, dataset: Dataset, rows: list[dict[str, Any]]) -> None:
        self.session.add_all(
            CheckResultRecord(project_id=self.project_id, dataset_id=dataset.id, **row)
            for row in rows
        )

    def latest_checks(self, dataset: Dataset) -> list[CheckResultRecord]:
        last = self.session.scalar(
            sa.select(CheckResultRecord.report_id)
            .where(
                CheckResultRecord.project_id == self.project_id,
                CheckResultRecord.dataset_id == dataset.id,
            )
            .order_by(CheckResultRecord.created_at.desc())
            .limit(1)
        )
        return [] if last is None else self.checks_of_report(last)

    def partition_summary(self, dataset: Dataset, limit: int = 100) -> list[dict[str, Any]]:
        """Per partition (newest first), the status counts of its latest check report."""
        rows = self.session.execute(
            sa.select(
                CheckResultRecord.partition,
                CheckResultRecord.report_id,
                sa.func.max(CheckResultRecord.created_at),
                CheckResultRecord.status,
                sa.func.count(),
            )
            .where(
                CheckResultRecord.project_id == self.project_id,
                CheckResultRecord.dataset_id == dataset.id,
            )
            .group_by(
                CheckResultRecord.partition, CheckResultRecord.report_id, CheckResultRecord.status
            )
        ).all()
        reports: dict[tuple[str | None, str], dict[str, Any]] = {}
        for partition, report_id, at, check_status, n in rows:
            report = reports.setdefault(
                (partition, report_id),
                {"partition": partition, "report_id": report_id, "at": at, "counts": {}},
            )
            report["at"] = max(report["at"], at)
            report["counts"][check_status] = n
        latest: dict[str | None, dict[str, Any]] = {}
        for report in reports.values():
            seen = latest.get(report["partition"])
            if seen is None or report["at"] > seen["at"]:
                latest[report["partition"]] = report
        ordered = sorted(latest.values(), key=lambda r: (r["partition"] or "", r["at"]))
        return list(reversed(ordered))[:limit]

    def checks_of_report(self, report_id: str) -> list[CheckResultRecord]:
        return list(
            self.session.scalars(
                sa.select(CheckResultRecord)
                .where(
                    CheckResultRecord.project_id == self.project_id,
                    CheckResultRecord.report_id == report_id,
                )
                .order_by(CheckResultRecord.name)
            )
        )

    def drift_history(self, dataset: Dataset, limit: int = 1000) -> list[CheckResultRecord]:
        """The drift checks of the newest partitions, oldest first (a chart's x axis)."""
        newest = list(
            self.session.scalars(
                sa.select(CheckResultRecord)
                .where(
                    CheckResultRecord.project_id == self.project_id,
                    CheckResultRecord.dataset_id == dataset.id,
                    CheckResultRecord.name.like("drift:%"),
                )
                .order_by(CheckResultRecord.created_at.desc())
                .limit(limit)
            )
        )
        return list(reversed(newest))
