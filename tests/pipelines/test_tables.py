"""Table versions come from the store's records, else from the Delta log itself."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from kibble.context import Context
from kibble.pipelines.tables import table_version
from tests.pipelines.test_caching import add_table_version


def test_recorded_versions_win_then_delta_log_then_none(context: Context) -> None:
    assert table_version(context, "events") is None
    folder = Path(context.settings.lake_url) / context.project / "events"
    write_deltalake(str(folder), pa.table({"x": [1]}))
    write_deltalake(str(folder), pa.table({"x": [2]}), mode="append")
    assert table_version(context, "events") == 1
    add_table_version(context, "events", 41)
    assert table_version(context, "events") == 41
