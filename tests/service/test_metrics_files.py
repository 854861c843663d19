"""The metrics files (service/state/metrics/files.py) read back by prometheus-client's own
multiprocess reader: real files in a temporary directory, past their first 64 KiB."""
from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from service.state.metrics import files


def merged(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in MultiProcessCollector.merge([str(p) for p in directory.glob("*.db")])
            for s in metric.samples}


def test_values_outgrow_the_first_mapping_and_read_back_exactly(tmp_path: Path) -> None:
    files.write_to(tmp_path)
    counter = Counter("t_grow", "a counter with many series", ["n"], registry=None)
    children = [counter.labels(str(i)) for i in range(2000)]  # about 200 KB of keys: the file doubles twice
    for i, child in enumerate(children):
        child.inc(i)
    children[0].inc(0.5)  # a value added before the file grew, added to after
    [path] = tmp_path.glob("counter_*.db")
    assert path.stat().st_size > files.INITIAL_BYTES
    assert path.stat().st_blocks * 512 >= path.stat().st_size  # every block allocated: no hole to SIGBUS on
    m = merged(tmp_path)
    assert m[("t_grow_total", (("n", "0"),))] == 0.5
    assert all(m[("t_grow_total", (("n", str(i)),))] == i for i in range(1, 2000))


def test_histograms_and_most_recent_gauges_merge_as_prometheus_client_merges_its_own(tmp_path: Path) -> None:
    files.write_to(tmp_path)
    h = Histogram("t_seconds", "a histogram", buckets=(0.1, 1.0), registry=None)
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    g = Gauge("t_version", "a gauge", multiprocess_mode="livemostrecent", registry=None)
    g.set(7)
    m = merged(tmp_path)
    assert [m[("t_seconds_bucket", (("le", le),))] for le in ("0.1", "1.0", "+Inf")] == [2, 3, 4]
    assert m[("t_seconds_count", ())] == 4 and m[("t_seconds_sum", ())] == 3.65
    assert m[("t_version", ())] == 7
    assert not list(tmp_path.glob(".*"))  # no partial file left behind
