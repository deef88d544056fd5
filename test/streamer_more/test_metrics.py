"""reindex_streamer --metrics-address: Prometheus text format scraped while the
streamer works. Every documented metric is present with the right type,
per-target figures follow what the streamer did (rows backfilled, events
applied, dead letters), the bulk latency histogram counts the requests, a
lost catalog session counts as a reconnect (and the endpoint keeps answering
while the catalog is away), and a scraper that never sends its request does
not hold the others up.
"""
import json
import re
import socket
import urllib.error
import urllib.request

from streamer_oracle import wait_for
from streamer_workload import create_items_table

PER_TARGET = {"lag_bytes": "gauge", "lag_seconds": "gauge", "events_applied_total": "counter",
              "stale_rejected_total": "counter", "retried_total": "counter",
              "dead_lettered_total": "counter", "backfill_rows_done": "gauge",
              "backfill_rows_estimated": "gauge"}
GLOBAL = {"bulk_request_duration_seconds": "histogram", "inflight_requests": "gauge",
          "reconnects_total": "counter", "targets": "gauge", "bulk_body_bytes_total": "counter",
          "bulk_body_uncompressed_bytes_total": "counter"}


def metrics_url(streamer):
    def find():
        for line in streamer.output().splitlines():
            try:
                msg = json.loads(line).get("msg", "")
            except ValueError:
                continue
            m = re.match(r"metrics on (http://\S+)$", msg)
            if m:
                return m.group(1)
        return None
    return wait_for(find, 30, "the metrics address in the log")


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    types, values = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return types, values


def value(values, name, index):
    return values.get('reindex_streamer_%s{index="%s"}' % (name, index))


def test_metrics_scraped_while_streaming(env):
    create_items_table(env, "met_items", 500)
    env.sql("ANALYZE met_items")  # reindex_begin takes the estimate from the statistics
    job = env.begin("met_items", "met_items", "met_items_v1",
                    {"mappings": {"properties": {"attrs": {"properties": {"g": {"type": "integer"}}}}}})
    s = env.start_streamer("metrics", ["--metrics-address=127.0.0.1:0"])
    url = metrics_url(s)
    env.wait_job(job, "ready")

    # a scraper that connects and says nothing does not block the next one
    idle = socket.create_connection(url.split("//")[1].split("/")[0].rsplit(":", 1))
    try:
        env.sql("UPDATE met_items SET qty = qty + 1 WHERE id <= 40")
        # a value the mapping refuses: one dead letter
        env.sql("""INSERT INTO met_items (id, name, attrs) VALUES (9001, 'refused', '{"g": "not a number"}')""")

        def applied():
            _, v = scrape(url)
            return (value(v, "events_applied_total", "met_items_v1") or 0) >= 40 and \
                (value(v, "dead_lettered_total", "met_items_v1") or 0) >= 1 and v
        values = wait_for(applied, 60, "the metrics to show the applied events and the dead letter")
    finally:
        idle.close()
    types, _ = scrape(url)
    for name, kind in list(PER_TARGET.items()) + list(GLOBAL.items()):
        assert types.get("reindex_streamer_" + name) == kind, (name, types)
    assert types.get("process_resident_memory_bytes") == "gauge"
    assert value(values, "backfill_rows_done", "met_items_v1") == 500
    assert value(values, "backfill_rows_estimated", "met_items_v1") > 0
    assert value(values, "lag_bytes", "met_items_v1") is not None
    count = values["reindex_streamer_bulk_request_duration_seconds_count"]
    assert count >= 2, values
    assert values['reindex_streamer_bulk_request_duration_seconds_bucket{le="+Inf"}'] == count
    assert values["reindex_streamer_targets"] == 1
    assert values["process_resident_memory_bytes"] > 1024 * 1024
    try:
        urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=10)
        raise AssertionError("/other answered")
    except urllib.error.HTTPError as e:
        assert e.code == 404

    # the catalog session is lost: a reconnect, and the endpoint keeps answering
    env.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    wait_for(lambda: scrape(url)[1]["reindex_streamer_reconnects_total"] >= 1, 60, "a reconnect to be counted")
    assert env.stop_streamers() == {"metrics": 0}


def test_compress_sends_gzipped_bulk_bodies(env):
    """--compress: the same documents arrive (backfill and stream), with
    fewer bytes on the wire than before compression."""
    create_items_table(env, "gz_items", 2000)
    job = env.begin("gz_items", "gz_items", "gz_items_v1")
    s = env.start_streamer("gz", ["--compress", "--metrics-address=127.0.0.1:0"])
    url = metrics_url(s)
    env.wait_job(job, "ready")
    env.sql("UPDATE gz_items SET qty = qty + 1 WHERE id <= 100")
    env.assert_verified(["gz_items_v1"])
    _, v = scrape(url)
    sent = v["reindex_streamer_bulk_body_bytes_total"]
    raw = v["reindex_streamer_bulk_body_uncompressed_bytes_total"]
    assert 0 < sent < raw / 2, (sent, raw)
    assert env.stop_streamers() == {"gz": 0}
    assert "_bulk bodies: %d bytes sent, %d before compression" % (sent, raw) in s.output()
