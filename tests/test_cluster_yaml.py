"""cluster.yaml: accepted by Ray's own cluster-launcher checks, and secure by construction.

Validation uses the schema shipped inside the `ray` package and the same `prepare_config` +
`validate_config` that `ray up` runs before it calls the cloud; the security properties are read
from the file itself. No cloud is contacted (milliseconds).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


@pytest.fixture(scope="module")
def text() -> str:
    return CLUSTER_YAML.read_text()


@pytest.fixture(scope="module")
def config(text: str) -> dict:
    return yaml.safe_load(text)


def commands(config: dict, *keys: str) -> str:
    return "\n".join(line for key in keys for line in config.get(key, []))


def test_ray_accepts_the_file_as_ray_up_would(config: dict) -> None:
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)  # the file as written
    prepared = prepare_config(copy.deepcopy(config))  # merged with Ray's AWS defaults, as `ray up` does
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_a_cpu_head_and_h100_workers(config: dict, text: str) -> None:
    nodes = config["available_node_types"]
    head = nodes[config["head_node_type"]]
    assert head["resources"] == {"CPU": 0} and head["max_workers"] == 0
    workers = [node for name, node in nodes.items() if name != config["head_node_type"]]
    assert len(workers) == 1 and workers[0]["node_config"]["InstanceType"] == "p5.48xlarge"
    assert workers[0]["resources"]["GPU"] == 8
    assert config["max_workers"] == workers[0]["max_workers"]
    assert "a3-highgpu-8g" in text and "nvidia-h100-80gb" in text  # the GCP equivalent, in comments
    assert [line for line in text.splitlines() if "---- EDIT" in line][0].startswith("# ---- EDIT 1")
    assert sum("---- EDIT" in line for line in text.splitlines()) == 2


def test_nodes_install_the_package_with_cuda_torch(config: dict) -> None:
    setup = commands(config, "setup_commands")
    assert re.search(r"pip install .*torch==\S+ --index-url https://download.pytorch.org/whl/cu\d+", setup)
    assert "pip install -q ~/mft" in setup and config["file_mounts"] == {"~/mft": "."}
    assert {".venv", "mft-runs", "mlflow.db", ".git"} <= set(config["rsync_exclude"])


def test_nothing_but_ssh_is_open(config: dict, text: str) -> None:
    # Ray's AWS launcher adds SSH and intra-cluster traffic; nothing else may be added.
    for rule in config["provider"]["security_group"]["IpPermissions"]:
        assert (rule["FromPort"], rule["ToPort"]) == (22, 22)
    assert "0.0.0.0" not in text and "::/0" not in text
    assert "use_internal_ips" not in config["provider"]
    head_start = commands(config, "head_start_ray_commands")
    assert "--dashboard-host=127.0.0.1" in head_start  # the dashboard and the jobs API: loopback only
    mlflow = commands(config, "head_setup_commands")
    assert "mlflow server --host $(hostname -I | cut -d' ' -f1)" in mlflow  # the private address


def test_mlflow_server_uses_postgres_and_serves_artifacts_from_the_bucket(config: dict) -> None:
    head = commands(config, "head_setup_commands")
    assert "apt-get install -yq postgresql" in head
    assert "MLFLOW_BACKEND_STORE_URI=postgresql://mlflow:$PW@127.0.0.1/mlflow" in head
    # The driver SQLAlchemy 2.1 takes for postgresql://, as the local stack's server proves it.
    assert 'pip install -q "psycopg[binary]" boto3' in head
    assert "--serve-artifacts --artifacts-destination \\${MFT_STORAGE}/mlflow-artifacts" in head
    assert re.search(r"MFT_STORAGE=s3://", commands(config, "initialization_commands"))
    assert "MLFLOW_TRACKING_URI=http://$(hostname -I" in head


def test_ray_token_auth_is_on_for_every_node(config: dict) -> None:
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [line for line in config[key] if "ray start" in line]
        assert start and all("export RAY_AUTH_MODE=token;" in line for line in start), key
    assert "--secret-id mft/ray-auth-token" in commands(config, "setup_commands")


def test_no_secret_is_written_in_the_file(config: dict, text: str) -> None:
    setup = commands(config, "setup_commands")
    assert "--secret-id mft/hf-token" in setup and "> ~/hf-home/token" in setup
    assert "umask 077" in setup
    assert "PW=$(openssl rand" in commands(config, "head_setup_commands")  # generated on the head
    assert "chmod 600 /etc/mlflow-server.env" in commands(config, "head_setup_commands")
    for pattern in (
        r"(?i)(token|password|secret)[\w-]*\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{12,}",
        r"\bhf_[A-Za-z0-9]{20,}",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"(?i)aws_secret_access_key",
    ):
        assert not re.search(pattern, text), pattern
