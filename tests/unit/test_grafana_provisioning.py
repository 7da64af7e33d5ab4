"""Grafana's provisioning files agree with each other and with the README's
instructions: the provider reads the folder the docker run line mounts the dashboards
into, the data source takes the URL that line passes, and its timeInterval is the
scrape interval the README's scrape config sets. (No Grafana runs here: its server is
not a package this suite can install.)"""

import re
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

ROOT = Path(REPO_ROOT)
PROVISIONING = ROOT / "grafana" / "provisioning"


def readme_block(starting):
    """The README's fenced code block whose first line starts with `starting`."""
    blocks = re.findall(r"```\w*\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [block for block in blocks if block.startswith(starting)]
    assert len(found) == 1, f"README: expected one code block starting with {starting!r}"
    return found[0]


def test_the_docker_line_mounts_what_the_provisioning_reads():
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "redis-harness.yaml").read_text())["providers"]
    [datasource] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    docker = readme_block("docker run")
    mounts = dict(re.findall(r'-v "\$PWD/([^:"]+):([^:"]+):ro"', docker))
    assert mounts == {
        "grafana/provisioning/dashboards": "/etc/grafana/provisioning/dashboards",
        "grafana/provisioning/datasources": "/etc/grafana/provisioning/datasources",
        "grafana/dashboards": providers[0]["options"]["path"],
    }
    assert all((ROOT / source).is_dir() for source in mounts)
    assert (ROOT / "grafana" / "dashboards" / "redis-harness.json").is_file()
    assert [provider["type"] for provider in providers] == ["file"]
    variable = re.fullmatch(r"\$\{(\w+)\}", datasource["url"]).group(1)
    assert f"-e {variable}=http" in docker
    assert datasource["type"] == "prometheus"


def test_the_data_source_interval_is_the_scrape_interval():
    [datasource] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    [job] = yaml.safe_load(readme_block("scrape_configs:"))["scrape_configs"]
    assert datasource["jsonData"]["timeInterval"] == job["scrape_interval"]
