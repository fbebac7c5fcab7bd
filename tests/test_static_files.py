import httpx


def test_static_files_are_served_without_debug(gateway):
    resp = httpx.get(gateway.url + "/static/css/site.css", timeout=5)
    assert resp.status_code == 200 and "text/css" in resp.headers["content-type"]
    assert "--accent" in resp.text
