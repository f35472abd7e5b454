"""Prometheus metrics: requests, latency, letters, decisions, the open queue, the model."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.store import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()
REQUESTS = Counter("triage_http_requests_total", "HTTP requests by route and status class",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("triage_http_request_seconds", "HTTP request time by route",
                    ["route"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LETTERS = Counter("triage_letters_registered_total", "letters registered since start",
                  registry=REGISTRY)
DECISIONS = Counter("triage_decisions_total", "decisions recorded since start", ["action"],
                    registry=REGISTRY)
QUEUE = Gauge("triage_queue_open_letters", "undecided letters in the store", registry=REGISTRY)
MODEL = Gauge("triage_model_info", "the model version serving (value 1)", ["version"],
              registry=REGISTRY)


def render(store: Store, version: str) -> bytes:
    QUEUE.set(store.queue(limit=1)["total"])
    MODEL.clear()
    if version:
        MODEL.labels(version=version).set(1)
    return generate_latest(REGISTRY)
