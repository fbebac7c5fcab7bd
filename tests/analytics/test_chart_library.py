"""Chart.js, installed by npm in `make setup`, is served by the app itself (staticfiles), with or
without DEBUG: nothing comes from a CDN and no copy of it is kept in the repository."""

from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_the_chart_library_is_served_from_node_modules(gateway):
    resp = httpx.get(gateway.url + "/static/vendor/chart.js/chart.umd.min.js", timeout=10)
    assert resp.status_code == 200 and "javascript" in resp.headers["content-type"]
    assert resp.content == (ROOT / "node_modules/chart.js/dist/chart.umd.min.js").read_bytes()
    assert not list(ROOT.glob("static/**/chart*.js"))


def test_the_dashboard_loads_no_third_party_host():
    page = (ROOT / "analytics/templates/analytics/dashboard.html").read_text()
    assert "{% static 'vendor/chart.js/chart.umd.min.js' %}" in page
    assert "http" not in page
