import json
import logging
import types

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


def test_access_lines_equal_what_the_json_formatter_makes(monkeypatch):
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    line = logs.AccessLog(logging.getLogger("config_service.access"))
    line.handler = handler
    line.write("r1", "GET", '/api/v1/x "ż"', 200, 1.25)
    key = types.SimpleNamespace(name='ci "ż"', id="01JD3B5ZQ6V2K9X4N8M7P1R0ST")
    line.write("r2", "DELETE", "/api/v1/applications/x", 204, 2.5, key, ("2001:db8::1", 443))
    line.write("r3", "GET", "/", 200, 0.5, None, ('1.2.3.4" , "x": "ż', 0))  # what a trusted proxy forwarded
    fast = [json.loads(text) for text in stream.getvalue().splitlines()]
    slow = [json.loads(logs.JsonFormatter().format(logging.makeLogRecord({
        "name": "config_service.access", "levelname": "INFO", "msg": "request", **fields})))
        for fields in ({"request_id": "r1", "method": "GET", "path": '/api/v1/x "ż"', "status": 200,
                        "duration_ms": 1.25, "key": None, "key_id": None, "client": None},
                       {"request_id": "r2", "method": "DELETE", "path": "/api/v1/applications/x", "status": 204,
                        "duration_ms": 2.5, "key": 'ci "ż"', "key_id": "01JD3B5ZQ6V2K9X4N8M7P1R0ST",
                        "client": "2001:db8::1"},
                       {"request_id": "r3", "method": "GET", "path": "/", "status": 200, "duration_ms": 0.5,
                        "key": None, "key_id": None, "client": '1.2.3.4" , "x": "ż'})]
    assert all(f.pop("time")[:19] and s.pop("time") for f, s in zip(fast, slow))
    assert fast == slow and stream.getvalue().count("\n") == 3
    assert fast[1]["key"] == 'ci "ż"' and fast[1]["key_id"] == "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_access_log_without_a_json_handler_goes_through_the_logger(caplog):
    line = logs.AccessLog(logging.getLogger("config_service.access"))
    with caplog.at_level(logging.INFO, logger="config_service.access"):
        line.write("r2", "GET", "/p", 404, 0.5)
    assert caplog.records[-1].request_id == "r2" and caplog.records[-1].status == 404


def test_uvicorns_colour_message_is_left_out_and_no_line_carries_ansi_codes():
    record = logging.makeLogRecord({"msg": "Started server process [%d]", "args": (42,), "levelname": "INFO",
                                    "color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    line = logs.JsonFormatter().format(record)
    assert json.loads(line)["message"] == "Started server process [42]"
    assert "color_message" not in line and "\x1b" not in line and "\\u001b" not in line


def test_access_lines_of_one_turn_of_the_loop_are_written_together_and_before_any_other_line():
    import asyncio
    import io

    class Counted(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Counted.writes += 1
            return super().write(text)

    stream = Counted()
    handler = logs._Handler(stream)
    handler.setFormatter(logs.JsonFormatter())
    line = logs.AccessLog(logging.getLogger("config_service.access"))
    line.handler = handler
    original, logs.access = logs.access, line
    try:
        async def turn() -> None:
            line.write("r1", "GET", "/a", 200, 1.0)
            line.write("r2", "GET", "/b", 304, 1.0)
            assert stream.getvalue() == ""  # not yet: at the end of this turn of the loop
            await asyncio.sleep(0)
            assert stream.getvalue().count("\n") == 2 and Counted.writes == 1
            line.write("r3", "GET", "/c", 200, 1.0)
            handler.emit(logging.makeLogRecord({"name": "config_service", "levelname": "WARNING", "msg": "after r3"}))

        asyncio.run(turn())
        lines = [json.loads(text) for text in stream.getvalue().splitlines()]
        assert [entry.get("request_id", entry["message"]) for entry in lines] == ["r1", "r2", "r3", "after r3"]
    finally:
        logs.access = original
