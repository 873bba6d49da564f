import socket

from main import port_taken


def test_a_port_in_use_is_named_with_what_to_do_and_a_free_one_is_none():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = port_taken("127.0.0.1", port)
    assert line.startswith(f"port {port} on 127.0.0.1 is already in use") and "set PORT in svc/.env" in line
    assert port_taken("127.0.0.1", port) is None


def test_an_address_not_of_this_machine_is_named():
    assert port_taken("192.0.2.1", 8000).startswith("cannot listen on 192.0.2.1:8000: ")
