"""Where upstream calls go, and the one place a caller's headers reach an upstream: the provider
simulator's x-sim-* controls, forwarded only when the simulator serves the provider."""

import pytest
from django.http.request import HttpHeaders

from routing.catalog import Snapshot
from routing.upstream import simulator_controls, target_for
from tests.adapters.conftest import catalog_model

CALLER = {
    "authorization": "Bearer sk-caller",
    "x-aipower-fallback": "off",
    "x-sim-fault": "status:503",
    "x-sim-chunks": "3",
    "x-simulated": "not a control",
}
CONTROLS = {"x-sim-fault": "status:503", "x-sim-chunks": "3"}


@pytest.fixture
def model():
    return catalog_model("openai", "gpt-4o-mini", "https://api.example.test/v1")


def snapshot_of(model) -> Snapshot:
    return Snapshot(models={model.public_id: model}, by_upstream_id={}, routes={})


def test_it_sends_a_simulated_provider_the_controls_only(settings, model):
    settings.AIPOWER_SIMULATE_PROVIDERS = "1"
    settings.AIPOWER_SIMULATOR_URL = "http://127.0.0.1:22203/"
    target = target_for(model, snapshot_of(model), CALLER, stream=False)
    assert target.base_url == "http://127.0.0.1:22203/p/openai/v1"
    assert target.api_key == "simulated"
    assert target.extra_headers == CONTROLS


def test_it_sends_a_real_provider_none_of_the_callers_headers(settings, model, monkeypatch):
    settings.AIPOWER_SIMULATE_PROVIDERS = "0"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-vendor")
    for stream in (False, True):
        target = target_for(model, snapshot_of(model), CALLER, stream=stream)
        assert target.base_url == "https://api.example.test/v1"
        assert target.api_key == "sk-vendor"
        assert target.extra_headers == {}


def test_it_decides_by_the_provider_keys_when_auto(settings, model, monkeypatch):
    settings.AIPOWER_SIMULATE_PROVIDERS = "auto"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = snapshot_of(model)
    assert target_for(model, keyless, CALLER, stream=False).extra_headers == CONTROLS
    monkeypatch.setenv("OPENAI_API_KEY", "sk-vendor")
    # The decision is taken once per snapshot: the next one (a reload) sees the key.
    keyed = snapshot_of(model)
    target = target_for(model, keyed, CALLER, stream=False)
    assert (target.base_url, target.api_key, target.extra_headers) == ("https://api.example.test/v1", "sk-vendor", {})


def test_it_reads_the_controls_from_any_header_mapping():
    # Django's request headers name them X-Sim-Fault; they are forwarded lower-case.
    django = HttpHeaders({"HTTP_X_SIM_FAULT": "hang", "HTTP_AUTHORIZATION": "Bearer k", "CONTENT_TYPE": "a/b"})
    assert simulator_controls(django) == {"x-sim-fault": "hang"}
    assert simulator_controls({"X-SIM-LATENCY-MS": "5", "x-api-key": "k"}) == {"x-sim-latency-ms": "5"}
    assert simulator_controls({}) == {}
