from pathlib import Path

import yaml

from db import dbprobe
from tools import drill
from tools.linearizability import Op

NODE = drill.Node("node0", 6001, 8001, Path("/tmp/drill-x/node0"))


def test_patroni_config_is_synchronous_and_on_loopback_only():
    config = drill.patroni_config(NODE, 2379, Path("/usr/lib/postgresql/15/bin"))
    dcs = config["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is False
    assert dcs["failsafe_mode"] is True  # as svc/README's configuration (an etcd outage, measured there)
    assert dcs["ttl"] >= 20 and dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]  # Patroni's rules
    assert dcs["postgresql"]["parameters"]["synchronous_commit"] == "on"
    assert dcs["postgresql"]["parameters"]["wal_retrieve_retry_interval"] == "200ms"  # promotion without a 5 s sleep
    assert config["restapi"]["listen"] == config["restapi"]["connect_address"] == "127.0.0.1:8001"
    assert config["postgresql"]["listen"] == config["postgresql"]["connect_address"] == "127.0.0.1:6001"
    assert config["etcd3"]["hosts"] == ["127.0.0.1:2379"]
    assert all(" 127.0.0.1/32 " in line for line in config["postgresql"]["pg_hba"])
    assert config["postgresql"]["data_dir"] == "/tmp/drill-x/node0/data"
    assert config["postgresql"]["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert config["tags"]["nofailover"] is False and config["tags"]["nosync"] is False


def test_patroni_config_renders_as_the_same_yaml():
    config = drill.patroni_config(NODE, 2379, Path("/usr/lib/postgresql/15/bin"))
    assert yaml.safe_load(yaml.safe_dump(config, sort_keys=False)) == config


def test_multi_host_url_lists_both_nodes_for_the_writable_one():
    url = drill.multi_host_url([NODE, drill.Node("node1", 6002, 8002, Path("/tmp"))])
    assert dbprobe.hosts(url) == [("127.0.0.1", 6001), ("127.0.0.1", 6002)]
    assert url.endswith("/config_service?target_session_attrs=read-write")


def write(key: str, start: float, end: float, version: int) -> Op:
    return Op("write", key, start, end, version)


def test_lost_writes_are_keys_whose_newest_acknowledged_version_is_not_stored():
    ops = [write("a", 0, 1, 2), write("a", 1, 2, 3), write("b", 0, 1, 5), Op("read", "c", 0, 1, 9)]
    assert drill.lost_writes(ops, {"a": 3, "b": 5}) == []
    assert drill.lost_writes(ops, {"a": 2, "b": 6}) == [("a", 3, 2)]
    assert drill.lost_writes(ops, {}) == [("a", 3, 0), ("b", 5, 0)]


MARKS = {"killed": 10.0, "promoted": 30.0, "writable": 30.1, "watched_written": 30.2}


def test_figures_measure_from_the_kill_and_the_promotion():
    # The write in flight at the kill (begun before it) does not count as the first one after the promotion.
    ops = [write("a", 9.9, 10.05, 1), write("a", 20, 30.3, 2), write("a", 30.4, 30.5, 3), Op("read", "a", 31, 32, 3)]
    watched = [30.5 + i / 20 for i in range(drill.WATCHERS)]
    f = drill.figures(ops, MARKS, watched, 0, 0, {"503": 7})
    assert (f["writes"], f["reads"], f["promotion_s"], f["write_window_s"], f["watched_write_s"]) == (3, 1, 20, .3, .2)
    assert (f["watchers"], f["watchers_within_target"], f["watchers_slowest_s"]) == (20, 20, 1.45)
    assert f["writable_s"] == 0.1
    assert f["failures"] == {"503": 7} and f["targets_met"]
    assert "targets met" in drill.table(f) and "0 of 3" in drill.table(f)


def test_figures_miss_the_targets_on_a_loss_a_stale_read_a_slow_watcher_or_no_write():
    ops = [write("a", 20, 30.3, 2)]
    watched = [31.0] * drill.WATCHERS
    assert drill.figures(ops, MARKS, watched, 0, 0, {})["targets_met"]
    assert not drill.figures(ops, MARKS, watched, 1, 0, {})["targets_met"]
    assert not drill.figures(ops, MARKS, watched, 0, 1, {})["targets_met"]
    assert not drill.figures(ops, MARKS, watched[:-1] + [32.5], 0, 0, {})["targets_met"]
    assert not drill.figures(ops, MARKS, watched[:-1], 0, 0, {})["targets_met"]  # a watcher that never answered
    assert not drill.figures([write("a", 20, 31.5, 2)], MARKS, watched, 0, 0, {})["targets_met"]
    none = drill.figures([write("a", 1, 2, 1)], MARKS, watched, 0, 0, {})
    assert none["write_window_s"] is None and not none["targets_met"] and "TARGETS MISSED" in drill.table(none)
