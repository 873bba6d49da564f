import json
import logging

import logs


def test_json_formatter_writes_one_object_with_extra_fields():
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "hello %s", "args": ("you",),
                                    "request_id": "r1", "status": 200})
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["message"] == "hello you" and entry["request_id"] == "r1" and entry["status"] == 200
    assert entry["level"] == "INFO" and entry["time"].endswith("+00:00")


def test_exceptions_are_in_the_log_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]


def test_configure_sets_the_level_and_one_json_handler():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("WARNING")
        assert root.level == logging.WARNING
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, logs.JsonFormatter)
        assert logging.getLogger("uvicorn.access").disabled
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
