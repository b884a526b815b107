"""`--target-metrics` against LLM servers' own Prometheus names: llama.cpp (`llama-server
--metrics`) and vLLM, in the exact text formats they emit, served over a real loopback socket;
and the reference server's `rtref_requests_waiting`/`running` in a whole run against its slots."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from support.ports import worker_port
from support.runs import run_scenario, scenario_text

from rtbench.config import RunConfig, TargetConfig
from rtbench.load.monitors import PrometheusScraper
from rtbench.load.target import TargetWatch, target_gauges
from rtbench.local_server import LocalServer

#: llama-server --metrics, as it writes it (names, HELP and TYPE lines, bare values); older builds
#: also export kv_cache_usage_ratio.
LLAMACPP = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total {prompt}
# HELP llamacpp:prompt_seconds_total Total time spent processing prompts
# TYPE llamacpp:prompt_seconds_total counter
llamacpp:prompt_seconds_total 1.40724
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total {generated}
# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds 22.7396
# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.25
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 4
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 3
"""

#: vLLM's /metrics (prometheus_client: labels, floats, `_created` samples), two engines.
VLLM = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="m"}} 5.0
vllm:num_requests_running{{engine="1",model_name="m"}} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="m"}} 7.0
vllm:num_requests_waiting{{engine="1",model_name="m"}} 0.0
# HELP vllm:{kv} KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:{kv} gauge
vllm:{kv}{{engine="0",model_name="m"}} 0.5
vllm:{kv}{{engine="1",model_name="m"}} 0.3
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{{engine="0",model_name="m"}} {prompt}
vllm:prompt_tokens_created{{engine="0",model_name="m"}} 1.7650e+09
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{engine="0",model_name="m"}} {generated}
vllm:generation_tokens_created{{engine="0",model_name="m"}} 1.7650e+09
"""


class _Exporter:
    """A loopback HTTP server answering /metrics with `text`, which the test changes."""

    def __init__(self) -> None:
        self.text = ""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                body = exporter.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", worker_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"


@pytest.fixture
def exporter() -> Iterator[_Exporter]:
    served = _Exporter()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_llamacpp_queue_kv_cache_and_tokens_per_s(exporter: _Exporter) -> None:
    clock = _Clock()
    scraper = PrometheusScraper(exporter.url, clock=clock)
    exporter.text = LLAMACPP.format(prompt=1000, generated=500)
    first = scraper.scrape()
    assert (first["waiting"], first["running"], first["kv_cache"]) == (3, 4, 0.25)
    assert first["prompt_tokens_per_s"] is None and first["generation_tokens_per_s"] is None  # needs two
    clock.now += 2.0
    exporter.text = LLAMACPP.format(prompt=1300, generated=660)
    second = scraper.scrape()
    assert second["prompt_tokens_per_s"] == pytest.approx(150.0)
    assert second["generation_tokens_per_s"] == pytest.approx(80.0)
    assert second["sessions"] is None and second["rss_bytes"] is None  # llama.cpp exports neither


@pytest.mark.parametrize("kv", ["kv_cache_usage_perc", "gpu_cache_usage_perc"])
def test_vllm_sums_requests_over_engines_and_averages_the_kv_cache(exporter: _Exporter, kv: str) -> None:
    clock = _Clock()
    scraper = PrometheusScraper(exporter.url, clock=clock)
    exporter.text = VLLM.format(kv=kv, prompt="2000.0", generated="4000.0")
    first = scraper.scrape()
    assert (first["waiting"], first["running"]) == (7.0, 8.0)
    assert first["kv_cache"] == pytest.approx(0.4)  # a fraction, the mean of the engines
    clock.now += 0.5
    exporter.text = VLLM.format(kv=kv, prompt="2100.0", generated="4250.0")
    second = scraper.scrape()
    assert second["prompt_tokens_per_s"] == pytest.approx(200.0)
    assert second["generation_tokens_per_s"] == pytest.approx(500.0)


def test_the_run_gauges_carry_the_server_figures(exporter: _Exporter) -> None:
    exporter.text = LLAMACPP.format(prompt=10, generated=20)
    watch = TargetWatch(RunConfig(target=TargetConfig(metrics_url=exporter.url)))
    gauges = target_gauges(watch.sample())
    assert (gauges["target_waiting"], gauges["target_running"], gauges["target_kv_cache"]) == (3, 4, 0.25)
    assert gauges["target_generation_tokens_per_s"] is None
    assert set(target_gauges(None).values()) == {None}


def test_a_run_records_the_reference_servers_slot_queue(tmp_path: Path) -> None:
    """2 generation slots and 4 users with no think time: 2 turns run and 2 wait, every second;
    the server generates 2 x 10 tokens each 110 ms (182 tokens/s)."""
    with LocalServer(("--slots", "2", "--ttft-ms", "20", "--itl-ms", "10", "--tokens", "10")) as server:
        body = scenario_text(server.ws_url, users=4, think_time="0s")
        result, summary = run_scenario(tmp_path, body, "--target-metrics", server.base_url + "/metrics")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    target = summary["target"]
    assert (target["waiting_max"], target["running_max"]) == (2.0, 2.0), target
    assert 120 <= target["generation_tokens_per_s_mean"] <= 200, target
    assert target["kv_cache_pct_max"] is None and target["prompt_tokens_per_s_mean"] is None
    with open(tmp_path / "bundle" / "timeseries.csv", newline="") as file:
        steady = [row for row in csv.DictReader(file) if row["phase"] == "steady"]
    assert steady and all(row["target_running"] == "2.0" for row in steady), steady
