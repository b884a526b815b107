"""Run monitors: the load generator's own health (greenlet lag, CPU) and the target's resources.

- `ClientLagMonitor`: a greenlet that sleeps 10 ms and records how late it wakes (`client_lag`).
  When it is high, the load generator, not the target, is the bottleneck.
- `ClientCpuSampler`: this process's CPU percent between samples.
- `ProcessSampler`: a local target's RSS, CPU percent and open files, through its PID, summed
  over its children (the reference server with `--procs N` is a supervisor and N workers).
- `PrometheusScraper`: a remote target's sessions, RSS and CPU from its `/metrics` text, and an
  LLM server's queue (waiting, running), KV-cache use and prompt and generation tokens/s: the
  reference server's `rtref_*`, llama.cpp's `llamacpp:*` (`llama-server --metrics`) or vLLM's
  `vllm:*` names, whichever the target has.

CPU percent is CPU seconds over wall seconds between two samples: 100 is one core busy.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gevent
import psutil
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "ClientLagMonitor",
    "ClientCpuSampler",
    "ProcessSampler",
    "ResourceSample",
    "PrometheusScraper",
    "ScrapeError",
    "parse_totals",
    "DEFAULT_SESSIONS_METRICS",
    "DEFAULT_RSS_METRICS",
    "DEFAULT_CPU_METRICS",
    "DEFAULT_WAITING_METRICS",
    "DEFAULT_RUNNING_METRICS",
    "DEFAULT_KV_CACHE_METRICS",
    "DEFAULT_PROMPT_TOKENS_METRICS",
    "DEFAULT_GENERATION_TOKENS_METRICS",
    "parse_samples",
]

Clock = Callable[[], float]


class ClientLagMonitor:
    """Records, every `interval_s`, how late a sleeping greenlet woke up, in µs."""

    __slots__ = ("_record", "interval_s", "metric", "_clock", "_greenlet")

    def __init__(
        self,
        recorder_record: Callable[[str, float], None],
        interval_s: float = 0.010,
        *,
        metric: str = "client_lag",
        clock: Clock = time.perf_counter,
    ) -> None:
        self._record = recorder_record
        self.interval_s = interval_s
        self.metric = metric
        self._clock = clock
        self._greenlet: gevent.Greenlet | None = None

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def start(self) -> None:
        """Start the sleeper greenlet (no-op if it runs already)."""
        if not self.running:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop the sleeper greenlet. Idempotent."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=True)

    def _run(self) -> None:
        loop = gevent.get_hub().loop
        record, metric, clock, interval = self._record, self.metric, self._clock, self.interval_s
        while True:
            # libev times timers from the loop's cached "now"; refresh it so a stale value
            # (after greenlets ran a long time) does not make the sleep end early.
            loop.update_now()
            due = clock() + interval
            gevent.sleep(interval)
            late_s = clock() - due
            record(metric, late_s * 1e6 if late_s > 0 else 0.0)


class _CpuRate:
    """Percent of one core, from cumulative CPU seconds sampled against a monotonic clock."""

    __slots__ = ("_clock", "_cpu_s", "_wall_s")

    def __init__(self, cpu_s: float, clock: Clock) -> None:
        self._clock = clock
        self._cpu_s = cpu_s
        self._wall_s = clock()

    def update(self, cpu_s: float) -> float:
        """CPU percent since the previous update; `cpu_s` is the new cumulative total."""
        now = self._clock()
        wall_s = now - self._wall_s
        used_s = cpu_s - self._cpu_s
        self._cpu_s, self._wall_s = cpu_s, now
        return 100.0 * used_s / wall_s if wall_s > 0 else 0.0


class ClientCpuSampler:
    """This process's CPU percent (all threads, user + system) since the previous sample."""

    __slots__ = ("_rate",)

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._rate = _CpuRate(time.process_time(), clock)

    def sample(self) -> float:
        return self._rate.update(time.process_time())


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One reading of a process tree's resources."""

    #: Wall-clock time of the reading (`time.time()`), for aligning with interval data.
    ts: float
    #: Resident memory of all processes, in bytes.
    rss_bytes: int
    #: CPU percent since the previous sample (or since the sampler was made); 100 = one core.
    cpu_percent: float
    #: Open file descriptors of all processes, or None where they cannot be counted.
    num_fds: int | None
    #: How many processes were summed.
    processes: int = 1


class ProcessSampler:
    """Samples a process, and by default its descendants, through psutil.

    The CPU of a child that exits between two samples is lost for that interval; the CPU of a
    child that appears counts from its start.
    """

    __slots__ = ("pid", "include_children", "count_fds", "_root", "_cpu_by_pid", "_clock", "_wall_s")

    def __init__(
        self, pid: int, include_children: bool = True, clock: Clock = time.monotonic, count_fds: bool = True
    ) -> None:
        """Raises `ProcessLookupError` if there is no process `pid`.

        Counting open files walks /proc/PID/fd: about 14 ms a sample at 10k sessions, so
        samplers on a load process's tick pass `count_fds=False`.
        """
        self.pid = pid
        self.include_children = include_children
        self.count_fds = count_fds
        self._clock = clock
        try:
            self._root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            raise ProcessLookupError(f"no process {pid}") from None
        self._cpu_by_pid: dict[int, float] = {}
        for process in self._processes():
            try:
                self._cpu_by_pid[process.pid] = _cpu_seconds(process)
            except psutil.Error:
                pass
        self._wall_s = clock()

    def _processes(self) -> list[psutil.Process]:
        try:
            if self._root.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent
                raise psutil.NoSuchProcess(self.pid)
            children = self._root.children(recursive=True) if self.include_children else []
        except psutil.NoSuchProcess:
            raise ProcessLookupError(f"process {self.pid} has exited") from None
        return [self._root, *children]

    def sample(self) -> ResourceSample:
        """RSS, CPU percent and open files now; `ProcessLookupError` once the process is gone."""
        rss = 0
        fds: int | None = 0
        used_s = 0.0
        cpu_by_pid: dict[int, float] = {}
        for process in self._processes():
            try:
                with process.oneshot():
                    memory = process.memory_info().rss
                    cpu_s = _cpu_seconds(process)
                    open_fds = _num_fds(process) if self.count_fds else None
            except psutil.NoSuchProcess:  # also a zombie: exited, not yet reaped
                if process is self._root:
                    raise ProcessLookupError(f"process {self.pid} has exited") from None
                continue
            rss += memory
            fds = None if fds is None or open_fds is None else fds + open_fds
            used_s += cpu_s - self._cpu_by_pid.get(process.pid, 0.0)
            cpu_by_pid[process.pid] = cpu_s
        now = self._clock()
        wall_s, self._wall_s, self._cpu_by_pid = now - self._wall_s, now, cpu_by_pid
        cpu_percent = 100.0 * used_s / wall_s if wall_s > 0 else 0.0
        return ResourceSample(time.time(), rss, max(cpu_percent, 0.0), fds, len(cpu_by_pid))


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _num_fds(process: psutil.Process) -> int | None:
    try:
        return int(process.num_fds())
    except (AttributeError, psutil.AccessDenied):  # no num_fds() off Unix
        return None


#: Metric names tried in order, first found wins: the reference server's whole-server totals,
#: then prometheus_client's standard process metrics (which cover the serving process only).
DEFAULT_SESSIONS_METRICS = ("rtref_sessions_open",)
DEFAULT_RSS_METRICS = ("rtref_resident_memory_bytes", "process_resident_memory_bytes")
DEFAULT_CPU_METRICS = ("rtref_cpu_seconds", "process_cpu_seconds_total")
#: An LLM server's requests queued for a slot (llama.cpp: deferred), and those generating now.
DEFAULT_WAITING_METRICS = ("rtref_requests_waiting", "llamacpp:requests_deferred", "vllm:num_requests_waiting")
DEFAULT_RUNNING_METRICS = ("rtref_requests_running", "llamacpp:requests_processing", "vllm:num_requests_running")
#: KV-cache use as a fraction (1 = full), averaged over engines; vLLM renamed gpu_cache_usage_perc.
DEFAULT_KV_CACHE_METRICS = ("llamacpp:kv_cache_usage_ratio", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
#: Cumulative prompt (prefill) and generated tokens, read as tokens/s between scrapes.
DEFAULT_PROMPT_TOKENS_METRICS = ("llamacpp:prompt_tokens_total", "vllm:prompt_tokens_total")
DEFAULT_GENERATION_TOKENS_METRICS = (
    "rtref_tokens_total",
    "llamacpp:tokens_predicted_total",
    "vllm:generation_tokens_total",
)


class ScrapeError(Exception):
    """The metrics endpoint could not be fetched or parsed."""


class PrometheusScraper:
    """Reads a target's sessions, RSS and CPU from a Prometheus text endpoint.

    Samples of one name are summed over their labels (e.g. sessions per protocol). Each metric
    may be given as one name or as several to try in order. The fetch blocks unless the process
    is gevent-patched (Locust's import patches it).
    """

    __slots__ = ("url", "timeout", "sessions_metric", "rss_metric", "cpu_metric", "_clock", "_rate", "_rates")

    def __init__(
        self,
        url: str,
        timeout: float = 2.0,
        *,
        sessions_metric: str | Iterable[str] = DEFAULT_SESSIONS_METRICS,
        rss_metric: str | Iterable[str] = DEFAULT_RSS_METRICS,
        cpu_metric: str | Iterable[str] = DEFAULT_CPU_METRICS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.sessions_metric = _names(sessions_metric)
        self.rss_metric = _names(rss_metric)
        self.cpu_metric = _names(cpu_metric)
        self._clock = clock
        self._rate: _CpuRate | None = None
        self._rates: dict[str, _CpuRate] = {}  # cumulative token counters (a rate x 100: per second)

    def fetch(self) -> str:
        """The endpoint's text; `ScrapeError` if it cannot be had."""
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                return str(response.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ScrapeError(f"cannot scrape {self.url}: {exc}") from None

    def scrape(self) -> dict[str, float | None]:
        """`sessions`, `rss_bytes`, `cpu_seconds` and `cpu_percent`, and an LLM server's
        `waiting`, `running`, `kv_cache` (fraction), `prompt_tokens_per_s` and
        `generation_tokens_per_s` (None when the target lacks the metric; rates and CPU percent
        also on the first scrape)."""
        samples = parse_samples(self.fetch())
        totals = {name: sum(values) for name, values in samples.items()}
        kv_cache = _first({name: sum(v) / len(v) for name, v in samples.items() if v}, DEFAULT_KV_CACHE_METRICS)
        cpu_s = _first(totals, self.cpu_metric)
        cpu_percent = None
        if cpu_s is not None:
            if self._rate is None:
                self._rate = _CpuRate(cpu_s, self._clock)
            else:
                cpu_percent = max(self._rate.update(cpu_s), 0.0)
        return {
            "sessions": _first(totals, self.sessions_metric),
            "rss_bytes": _first(totals, self.rss_metric),
            "cpu_seconds": cpu_s,
            "cpu_percent": cpu_percent,
            "waiting": _first(totals, DEFAULT_WAITING_METRICS),
            "running": _first(totals, DEFAULT_RUNNING_METRICS),
            "kv_cache": kv_cache,
            "prompt_tokens_per_s": self._per_s("prompt", _first(totals, DEFAULT_PROMPT_TOKENS_METRICS)),
            "generation_tokens_per_s": self._per_s("generation", _first(totals, DEFAULT_GENERATION_TOKENS_METRICS)),
        }

    def _per_s(self, name: str, total: float | None) -> float | None:
        """The counter `total`'s increase per second since the last scrape (None on the first)."""
        if total is None:
            return None
        rate = self._rates.get(name)
        if rate is None:
            self._rates[name] = _CpuRate(total, self._clock)
            return None
        return max(rate.update(total) / 100.0, 0.0)  # the "percent" of a counter is 100 x its rate


def parse_samples(text: str) -> dict[str, list[float]]:
    """Prometheus text to {sample name: its values, one a label set}; `ScrapeError` if malformed."""
    samples: dict[str, list[float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(sample.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise ScrapeError(f"malformed Prometheus text: {exc}") from None
    return samples


def parse_totals(text: str) -> dict[str, float]:
    """Prometheus text to {sample name: value summed over labels}; `ScrapeError` if malformed."""
    return {name: sum(values) for name, values in parse_samples(text).items()}


def _names(names: str | Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def _first(totals: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in totals:
            return totals[name]
    return None
