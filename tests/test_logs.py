from __future__ import annotations

import json
import logging

import pytest

from kibble.logs import configure_logging, get_logger


def test_json_logs_carry_extra_fields_and_hide_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    get_logger("test").info("loaded", extra={"rows": 3, "api_token": "kb_live"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    payload = json.loads(line)
    assert payload["msg"] == "loaded"
    assert payload["rows"] == 3
    assert payload["api_token"] == "***"
    assert payload["level"] == "info"
    configure_logging("WARNING", "text")
    assert logging.getLogger("kibble").level == logging.WARNING
