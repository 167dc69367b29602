"""GET /metrics read with prometheus_client's own OpenMetrics parser after a known workload
through the OpenAI SDK with two client keys, and matched against the management API's usage."""
import json
import time
import urllib.request

import openai
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import API_KEY, start_demo, stop_demo

TOKEN = "metrics-test-token"


@pytest.fixture(scope="module")
def gateway_with_metrics():
    proc, base = start_demo("", {"METRICS_TOKEN": TOKEN})
    yield base
    stop_demo(proc)


def api(base, method, path, body=None):
    req = urllib.request.Request(
        base + "/api/v1" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def scrape(base):
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        return {f.name: f for f in text_string_to_metric_families(r.read().decode())}


def total(families, name, sample_name, **labels):
    return sum(
        s.value
        for s in families[name].samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_counters_match_the_usage_api(gateway_with_metrics):
    base = gateway_with_metrics
    team = api(base, "POST", "/client-keys", {"name": "team", "models": ["gemini-2.5-*"]})["secret"]
    tool = api(base, "POST", "/client-keys", {"name": "tool"})["secret"]

    a = openai.OpenAI(base_url=base + "/v1", api_key=team, max_retries=0)
    b = openai.OpenAI(base_url=base + "/v1", api_key=tool, max_retries=0)
    for _ in range(4):
        a.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    for _ in range(2):
        chunks = list(
            b.chat.completions.create(
                model="gemini-2.5-flash",
                messages=[{"role": "user", "content": "hello"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks
    with pytest.raises(openai.PermissionDeniedError) as refused:
        a.chat.completions.create(model="gemini-3-flash-preview", messages=[{"role": "user", "content": "x"}])
    assert "gemini-3-flash-preview" in str(refused.value)

    time.sleep(1.5)  # one usage flush
    fam = scrape(base)
    assert total(fam, "gcli2api_requests", "gcli2api_requests_total", key="team", status="2xx") == 4
    assert total(fam, "gcli2api_requests", "gcli2api_requests_total", key="team", status="4xx") == 1
    assert total(fam, "gcli2api_requests", "gcli2api_requests_total", key="tool", status="2xx") == 2
    assert total(fam, "gcli2api_stream_ttfb_seconds", "gcli2api_stream_ttfb_seconds_count") == 2

    agg = api(base, "GET", "/usage/aggregated?days=1")
    by_name = {k["name"]: k["totals"] for k in agg["per_key"]}
    for name in ("team", "tool"):
        t = by_name[name]
        assert total(fam, "gcli2api_requests", "gcli2api_requests_total", key=name) == t["requests"]
        assert total(fam, "gcli2api_tokens", "gcli2api_tokens_total", key=name, direction="in") == t["prompt_tokens"]
        assert total(fam, "gcli2api_tokens", "gcli2api_tokens_total", key=name, direction="out") == t["completion_tokens"]
    assert by_name["team"]["requests"] == 5 and by_name["tool"]["requests"] == 2

    used = sum(u["today"]["total"]["used"] for u in api(base, "GET", "/usage"))
    assert total(fam, "gcli2api_quota_used", "gcli2api_quota_used") == used
    creds = api(base, "GET", "/credentials")
    n = len(creds["items"]) if isinstance(creds, dict) and "items" in creds else len(creds)
    assert total(fam, "gcli2api_credentials", "gcli2api_credentials") == n
    assert total(fam, "gcli2api_limiter_capacity", "gcli2api_limiter_capacity") > 0
