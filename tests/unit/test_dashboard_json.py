"""The Grafana dashboard's JSON: it loads with grafana-foundation-sdk's dashboard model
(Grafana's own schema, generated from its CUE definitions) and loses nothing on the way,
and its template variables are the ones its expressions use. The helpers here also
serve tests/integration/test_grafana_dashboard.py, which runs every expression on a
real Prometheus."""

import json
import re
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.conftest import REPO_ROOT

DASHBOARD = Path(REPO_ROOT) / "grafana" / "dashboards" / "redis-harness.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
LABEL_VALUES = re.compile(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)")


def panels(dashboard):
    """Every panel, also those inside a collapsed row."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(dashboard):
    """(panel title, PromQL) for every target of every panel."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_queries(dashboard):
    """(metric, label) of every query variable: label_values(metric, label)."""
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = LABEL_VALUES.fullmatch(text.strip())
            assert match, f"variable {variable['name']}: not label_values(metric, label): {text}"
            yield match.group(1), match.group(2)


def fill(expr, run_id, window):
    """The expression as Grafana sends it: run_id is a hex id (nothing to escape) and
    $__rate_interval / $__interval a concrete window. An unknown variable raises."""
    values = {"run_id": run_id, "__rate_interval": window, "__interval": window}

    def value(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"the dashboard uses a template variable the tests do not fill: ${name}")
        return values[name]

    return VARIABLE.sub(value, expr)


def missing(original, loaded, path="$"):
    """Where `loaded` lacks or changed something `original` holds (defaults it adds are fine)."""
    if isinstance(original, dict):
        if not isinstance(loaded, dict):
            return [f"{path}: {loaded!r}"]
        return [problem for key, value in original.items()
                for problem in ([f"{path}.{key}: dropped"] if key not in loaded else
                                missing(value, loaded[key], f"{path}.{key}"))]
    if isinstance(original, list):
        if not isinstance(loaded, list) or len(loaded) != len(original):
            return [f"{path}: {loaded!r}"]
        return [problem for index, (a, b) in enumerate(zip(original, loaded))
                for problem in missing(a, b, f"{path}[{index}]")]
    return [] if original == loaded else [f"{path}: {original!r} became {loaded!r}"]


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_loads_with_grafanas_schema_and_loses_nothing(dashboard):
    register_default_plugins()  # panel options and Prometheus queries decode to their typed models
    model = Dashboard.from_json(dashboard)
    # from_json keeps only the fields the schema defines, so a misspelt or unknown key
    # (in a panel, its options, a query or a variable) is dropped and shows up here.
    assert missing(dashboard, json.loads(json.dumps(model, cls=JSONEncoder))) == []
    assert model.schema_version == Dashboard().schema_version  # the schema of the Grafana the SDK targets
    for panel in model.panels:
        assert not isinstance(panel.options, dict), f"{panel.title}: no options model for type {panel.type_val}"
        for target in panel.targets:
            assert isinstance(target, prometheus.Dataquery), f"{panel.title}: not a Prometheus query"


def test_every_panel_reads_the_chosen_data_source_and_run(dashboard):
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["run_id"]["datasource"] == DATASOURCE
    assert list(variable_queries(dashboard)) == [("harness_run_info", "run_id")]
    found = list(expressions(dashboard))
    assert len(found) >= 7
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"])
    for title, expr in found:
        assert '{run_id=~"$run_id"}' in expr, f"{title!r} is not limited to the chosen run: {expr}"


def test_fill_gives_what_grafana_sends():
    expr = 'sum(rate(x[$__rate_interval]) * on (job) group_left () i{run_id=~"${run_id}"}) + y[$__interval]'
    assert fill(expr, run_id="ab12", window="10s") == \
        'sum(rate(x[10s]) * on (job) group_left () i{run_id=~"ab12"}) + y[10s]'
    with pytest.raises(KeyError, match=r"\$instance"):
        fill("up{instance=~\"$instance\"}", run_id="ab12", window="10s")
