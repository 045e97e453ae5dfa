"""The ``metric``, ``rss`` and ``threads`` threshold kinds against real targets.

- a Prometheus endpoint written here (``http.server`` on loopback), scraped by the real
  sampler: max, last and growth of a gauge that moves, a missing series, a dead endpoint;
- the bundled server's process: its RSS and thread count through psutil;
- end to end: ``python -m harness run`` judges ``metric[...]``, ``rss`` and ``threads`` checks
  on the bundled server and on a ``--target-cmd`` server, writes ``series.jsonl`` and
  ``series.sampled`` in result.json, and an external ``--target-url`` (no pid) makes an
  ``rss`` check ERROR, never PASS.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench.short_scenario import short_slow_member
from harness.checker.verdict import evaluate_checks
from harness.measure.measurements import Measurements
from harness.measure.prometheus import MAX_EXPOSITION_BYTES, MetricSelector, ScrapeFailed, scrape
from harness.measure.sampler import SeriesSampler
from harness.rig.launched import ReferenceTarget
from harness.thresholds import CheckResult, parse_check
from tests.test_chaos_run import assert_nothing_left, harness, only_result

pytestmark = pytest.mark.integration

SELECTORS = ('queue_depth{queue="a"}', "queue_depth", "absent_metric")


class _Exposition(http.server.BaseHTTPRequestHandler):
    """``queue_depth{queue="a"}`` is the number of scrapes so far; queue "b" stays at 10."""

    scrapes = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).scrapes += 1
        body = ("# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n"
                f'queue_depth{{queue="a"}} {type(self).scrapes}\n'
                'queue_depth{queue="b"} 10\n').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def exposition_server(
        handler: type[http.server.BaseHTTPRequestHandler] = _Exposition) -> Iterator[str]:
    """Serve ``handler`` on loopback until the block ends (shutdown waits for it)."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
        finally:
            server.shutdown()


class _OverLong(http.server.BaseHTTPRequestHandler):
    """An exposition one line longer than the harness reads: ``queue_depth 123`` straddles
    the limit, so a cut body would end in ``queue_depth 12``."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        last = b"queue_depth 123\n"
        head = b"queue_depth 7\n"
        padding = MAX_EXPOSITION_BYTES - len(head) - len(last) + 2  # the cut leaves "...12"
        body = head + b"#" * (padding - 1) + b"\n" + last
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def sample_for(seconds: float, tmp_path: Path, *, url: str | None = None,
               pid: int | None = None) -> Measurements:
    sampler = SeriesSampler(tmp_path / "series.jsonl", metrics_url=url,
                            selectors=[MetricSelector.parse(text) for text in SELECTORS],
                            pid=pid, interval=0.1)
    sampler.start(time.time())
    time.sleep(seconds)
    sampler.stop()
    return Measurements(sampled=sampler.snapshot())


def judge(measurements: Measurements, *checks: str) -> dict[str, CheckResult]:
    results = evaluate_checks([parse_check(check) for check in checks], measurements, 1)
    return {result.check: result for result in results}


def test_a_metric_from_a_server_written_here_is_judged_on_max_last_and_growth(
    tmp_path: Path,
) -> None:
    _Exposition.scrapes = 0
    with exposition_server() as url:
        measurements = sample_for(1.0, tmp_path, url=url)
    scrapes = _Exposition.scrapes
    assert scrapes >= 5, f"only {scrapes} scrapes in 1 s at 0.1 s intervals"
    results = judge(
        measurements,
        'metric[queue_depth{queue="a"}].max >= 5',
        'metric[queue_depth{queue="a"}].growth > 3',
        f'metric[queue_depth{{queue="a"}}].last == {scrapes}',
        f"metric[queue_depth].last == {scrapes + 10}",  # a bare name sums its series
        'metric[queue_depth{queue="a"}].max < 3',
        "metric[absent_metric].max < 1",
    )
    statuses = {check: result.status for check, result in results.items()}
    assert list(statuses.values()) == ["holding"] * 4 + ["broken", "no_data"], statuses
    absent = results["metric[absent_metric].max < 1"]
    assert "has no series absent_metric" in absent.describe(), absent.describe()
    lines = (tmp_path / "series.jsonl").read_text().splitlines()
    assert {json.loads(line)["series"] for line in lines} == {
        'metric[queue_depth{queue="a"}]', "metric[queue_depth]"}


def test_a_metrics_endpoint_that_does_not_answer_is_no_data(tmp_path: Path) -> None:
    with exposition_server() as url:
        pass  # closed: nothing listens there any more
    results = judge(sample_for(0.5, tmp_path, url=url), "metric[queue_depth].max < 100")
    [result] = results.values()
    assert result.status == "no_data"
    assert "scrape failed" in result.describe(), result.describe()


def test_an_answer_longer_than_the_limit_is_a_failed_scrape_not_a_cut_value() -> None:
    with exposition_server(_OverLong) as url:
        with pytest.raises(ScrapeFailed, match=f"answered more than {MAX_EXPOSITION_BYTES} "
                                               "bytes"):
            scrape(url)


def test_rss_and_threads_of_the_bundled_server(tmp_path: Path) -> None:
    target = ReferenceTarget("fixed", tmp_path)
    with target:
        assert target.pid is not None
        measurements = sample_for(1.0, tmp_path, pid=target.pid)
    results = judge(measurements, "rss.max > 5MB", "rss.max < 2GiB", "threads.max >= 1",
                    "threads.max < 50", "rss.growth < 100MB", "rss.max < 1MB")
    statuses = [result.status for result in results.values()]
    assert statuses == ["holding"] * 5 + ["broken"], results
    assert results["rss.max > 5MB"].samples >= 5


def test_rss_without_a_pid_is_no_data_naming_why(tmp_path: Path) -> None:
    [result] = judge(sample_for(0.3, tmp_path), "rss.growth < 50MB").values()
    assert result.status == "no_data"
    assert "rss.growth has no data: the target was not started by the harness (no pid)" in (
        result.describe())


def _scenario(tmp_path: Path, checks: list[str], delivery: str = "ack") -> Path:
    path = tmp_path / "sampled.toml"
    path.write_text(short_slow_member(
        "sampled", target=f'delivery = "{delivery}"', members=8, fault="2s",
        thresholds="min_samples = 10\nchecks = ["
                   + ", ".join(f"'{check}'" for check in checks) + "]"))
    return path


def test_a_run_judges_metric_rss_and_threads_checks_and_keeps_the_series(tmp_path: Path) -> None:
    checks = ["metric[roomserver_broadcasts_total].growth > 0",
              'metric[roomserver_outbox_depth{stat="max"}].max < 256',
              "rss.growth < 200MB", "threads.max < 50",
              # [target] delivery reached the server: it says so on /metrics.
              'metric[roomserver_info{delivery="write"}].min == 1']
    results = tmp_path / "results"
    completed = harness("run", str(_scenario(tmp_path, checks, delivery="write")),
                        "--mode", "fixed", results=results)
    result = only_result(results)
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    assert [check["status"] for check in result["thresholds"]] == ["holding"] * 5
    assert result["extra"]["versions"]["target"] == "targets.roomserver (fixed, write delivery)"
    sampled = result["series"]["sampled"]["points"]
    duration = result["series"]["duration_s"]
    for name in ("metric[roomserver_broadcasts_total]",
                 'metric[roomserver_outbox_depth{stat="max"}]', "rss", "threads"):
        points = sampled[name]
        assert len(points) >= duration / 0.5 - 2, (name, len(points), duration)
        assert all(-1 <= t_s <= duration + 1 for t_s, _ in points), points
    broadcasts = [value for _, value in sampled["metric[roomserver_broadcasts_total]"]]
    assert broadcasts == sorted(broadcasts) and broadcasts[-1] > broadcasts[0]
    run_dir = next(results.glob("*/result.json")).parent
    assert (run_dir / "series.jsonl").stat().st_size > 0
    assert_nothing_left(result, results)


def test_an_external_target_has_no_rss_and_the_verdict_is_error(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with ReferenceTarget("fixed", tmp_path) as info:
        completed = harness("run", str(_scenario(tmp_path, ["rss.growth < 50MB",
                                                            "errors.ratio < 0.05"])),
                            "--target-url", info.url, results=results)
    result = only_result(results)
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert result["verdict"]["status"] == "ERROR"
    assert "rss.growth has no data: the target was not started by the harness" in (
        result["verdict"]["message"])


def test_a_launched_target_gives_its_pid_for_rss_and_threads(tmp_path: Path) -> None:
    results = tmp_path / "results"
    command = f"{sys.executable} -m targets.roomserver --mode fixed --port {{port}}"
    checks = ["rss.max > 5MB", "threads.max < 50",
              "metric[roomserver_broadcasts_total].growth > 0"]
    completed = harness("run", str(_scenario(tmp_path, checks)), "--target-cmd", command,
                        results=results)
    result = only_result(results)
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    points = result["series"]["sampled"]["points"]
    assert len(points["rss"]) >= 5 and len(points["threads"]) >= 5, points.keys()
    assert_nothing_left(result, results)


def test_a_metrics_endpoint_that_answers_garbage_is_no_data(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_garbage() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(4096)
                    connection.sendall(b"not http at all\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
        [result] = judge(sample_for(0.3, tmp_path, url=url), "metric[queue_depth].max < 1").values()
    finally:
        listener.close()
    assert result.status == "no_data"
    assert "scrape failed" in result.describe() and "BadStatusLine" in result.describe()
