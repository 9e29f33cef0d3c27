"""Several nodes: the torchrun line each node runs, the firewall between them, their prefixed log lines."""

from __future__ import annotations

import shlex

import pytest

from stager.cloud.access import PEERS_RULE_LABEL, SSH_RULE_LABEL, run_rules, ssh_rules
from stager.cloud.types import InstanceInfo
from stager.errors import UsageError
from stager.run.job import InstanceJob
from stager.run.multinode import nodes_config
from stager.run.nodes import (
    NodeLaunch,
    interface_for,
    node_address,
    node_order,
    procs_per_node,
    rendezvous_port,
    torchrun_command,
)
from stager.run.progress import TrainingProgress, node_prefixed

JOB = InstanceJob(run_id="r20261121-120000-abcd", endpoint_url="http://127.0.0.1:9000", signing_region="us-east-1",
                  outputs_bucket="out", datasets={})


def _launch(index: int, **changes) -> NodeLaunch:
    values = dict(nodes=2, procs_per_node=4, endpoint="127.168.128.5", port=29400, rdzv_id=JOB.run_id,
                  index=index, address=["127.168.128.5", "127.168.128.9"][index])
    values.update(changes)
    return NodeLaunch(**values)


def _argv(line: str) -> list[str]:
    words = shlex.split(line)
    return words[words.index("&&") + 1:]


def test_each_node_runs_torchrun_with_the_c10d_rendezvous_on_node_zero():
    host = _argv(torchrun_command(JOB, "/opt/venv/bin/python", _launch(0)))
    other = _argv(torchrun_command(JOB, "/opt/venv/bin/python", _launch(1)))
    assert host == ["/opt/venv/bin/python", "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "4",
                    "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.168.128.5:29400", "--rdzv-id", JOB.run_id,
                    "--rdzv-conf", "is_host=true", "--local-addr", "127.168.128.5", "--max-restarts", "0",
                    "-m", "stager.run.agent", "job.json"]
    assert other[other.index("--rdzv-conf") + 1] == "is_host=false"
    assert other[other.index("--local-addr") + 1] == "127.168.128.9"
    assert other[other.index("--rdzv-endpoint") + 1] == "127.168.128.5:29400"


def test_the_torchrun_line_is_quoted_and_carries_the_environment_but_no_secret():
    line = torchrun_command(JOB, "/home/me/my venv/bin/python", _launch(0, rdzv_id="r1; rm -rf /"))
    words = shlex.split(line)
    assert words[0] == "export" and "STAGER_HOME=.stager" in words and "AWS_REGION=us-east-1" in words
    argv = _argv(line)
    assert argv[0] == "/home/me/my venv/bin/python"
    assert argv[argv.index("--rdzv-id") + 1] == "r1; rm -rf /"


def test_an_ipv6_endpoint_is_bracketed():
    argv = _argv(torchrun_command(JOB, "python", _launch(0, endpoint="::1", address="::1")))
    assert argv[argv.index("--rdzv-endpoint") + 1] == "[::1]:29400"


@pytest.mark.parametrize("launch", [NodeLaunch(1, 1, "127.0.0.1", 29400, "r", 0, "127.0.0.1"),
                                    NodeLaunch(2, 1, "127.0.0.1", 29400, "r", 2, "127.0.0.1"),
                                    NodeLaunch(2, 0, "127.0.0.1", 29400, "r", 0, "127.0.0.1")])
def test_an_impossible_launch_is_refused(launch):
    with pytest.raises(ValueError):
        torchrun_command(JOB, "python", launch)


def test_nodes_are_numbered_in_the_order_c10d_ranks_them():
    # torch sorts the participants by their --local-addr as strings: "127.168.128.10" before "...9".
    addresses = ["127.168.128.9", "127.168.128.10", "127.168.129.1"]
    assert [addresses[i] for i in node_order(addresses)] == sorted(addresses)


def test_a_node_is_reached_at_its_private_address_or_on_loopback_locally():
    info = InstanceInfo(id=7, label="n", status="running", plan="p", region="us-east", image=None,
                        ipv4="127.83.0.7", private_ipv4="127.168.128.7", ssh_port=22, tags=(), created=None)
    assert node_address(info, sandboxed=False) == "127.168.128.7"
    assert node_address(info, sandboxed=True) == "127.83.0.7"
    bare = InstanceInfo(**{**info.__dict__, "private_ipv4": None})
    with pytest.raises(UsageError, match="no private IPv4"):
        node_address(bare, sandboxed=False)


def test_ports_and_processes_per_node():
    assert rendezvous_port(sandboxed=False) == 29400
    assert 1024 <= rendezvous_port(sandboxed=True) <= 65535
    assert procs_per_node(4, sandboxed=False) == 4
    assert procs_per_node(0, sandboxed=False) == 1
    assert procs_per_node(4, sandboxed=True) == 1


def test_the_firewall_admits_all_tcp_between_the_nodes_only():
    rules = run_rules(["127.0.0.1/32"], ["127.168.128.9", "127.168.128.5", "::1"])
    assert rules["inbound_policy"] == "DROP" and rules["outbound_policy"] == "ACCEPT"
    ssh, peers = rules["inbound"]
    assert ssh == ssh_rules(["127.0.0.1/32"])["inbound"][0] and ssh["label"] == SSH_RULE_LABEL
    assert peers["label"] == PEERS_RULE_LABEL and peers["action"] == "ACCEPT" and peers["protocol"] == "TCP"
    assert peers["ports"] == "1-65535"
    assert peers["addresses"] == {"ipv4": ["127.168.128.5/32", "127.168.128.9/32"], "ipv6": ["::1/128"]}


def test_a_single_node_firewall_is_unchanged_and_bad_peers_are_refused():
    assert run_rules(["127.0.0.1/32"]) == ssh_rules(["127.0.0.1/32"])
    with pytest.raises(UsageError, match="private address"):
        run_rules(["127.0.0.1/32"], ["127.168.128.0/24"])


def test_the_trainer_config_gets_num_nodes_and_ddp_unless_a_strategy_was_chosen():
    config = {"trainer": {"max_epochs": 1}, "model": {}}
    assert nodes_config(config, 3)["trainer"] == {"max_epochs": 1, "num_nodes": 3, "strategy": "ddp"}
    assert nodes_config({"trainer": {"strategy": "fsdp"}}, 2)["trainer"]["strategy"] == "fsdp"
    assert config == {"trainer": {"max_epochs": 1}, "model": {}}  # the given config is left alone


def test_node_lines_are_prefixed_and_only_node_zero_reports(tmp_path):
    shown, records = [], []
    progress = TrainingProgress(train_log=tmp_path / "train.log", metrics=tmp_path / "metrics.jsonl",
                                say=shown.append, on_record=records.append)
    report = '@stager {"event": "epoch", "epoch": 0, "step": 5, "metrics": {"val_loss": 0.5}}'
    progress.node_line(0, report)
    progress.node_line(1, report)
    progress.node_line(1, "gloo: connected")
    progress.close()
    log = (tmp_path / "train.log").read_text().splitlines()
    assert log == [node_prefixed(0, report), node_prefixed(1, report), "[node 1] gloo: connected"]
    assert len(records) == 1 and progress.last_step == 5
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    assert "  [node 1] gloo: connected" in shown and progress.tail[-1] == "[node 1] gloo: connected"


def test_datasets_on_a_volume_are_refused_with_several_nodes():
    from types import SimpleNamespace

    from stager.run.nodes import check_nodes

    def spec(nodes: int, via: str):
        return SimpleNamespace(path="p.yaml", data=[object()], compute=SimpleNamespace(nodes=nodes),
                               storage=SimpleNamespace(via=via))

    check_nodes(spec(1, "volume"))
    check_nodes(spec(2, "object-storage"))
    with pytest.raises(UsageError, match=r"p.yaml: storage.via: volume with compute.nodes: 2"):
        check_nodes(spec(2, "volume"))


# `ip -o -4 addr show` as a Linode node prints it (addresses made loopback for the tests).
LISTING = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 127.83.0.7/24 brd 127.83.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 127.168.128.7/17 scope global eth0:1\\       valid_lft forever preferred_lft forever
3: eth1@if9    inet 127.200.0.3/24 scope global eth1\\       valid_lft forever preferred_lft forever
"""


def test_the_interface_of_a_node_is_the_one_holding_its_address():
    assert interface_for("127.168.128.7", LISTING) == "eth0"  # its very address, though lo's /8 contains it too
    assert interface_for("127.200.0.3", LISTING) == "eth1"  # a VLAN interface's "@peer" suffix is not its name
    assert interface_for("127.136.0.8", LISTING) == "lo"  # a sandbox's loopback address: lo's network holds it
    assert interface_for("::1", LISTING) is None and interface_for("not an address", LISTING) is None
    assert interface_for("127.0.0.9", "") is None
    assert interface_for("127.9.9.9", "2: eth0;rm    inet 127.9.9.9/32 scope global\n") is None  # not a name


def test_gloo_and_nccl_are_pointed_at_the_nodes_interface_only_when_it_is_known():
    words = shlex.split(torchrun_command(JOB, "python", _launch(0, interface="eth0")))
    assert "GLOO_SOCKET_IFNAME=eth0" in words and "NCCL_SOCKET_IFNAME=eth0" in words
    words = shlex.split(torchrun_command(JOB, "python", _launch(0)))
    assert not [w for w in words if "SOCKET_IFNAME" in w]
