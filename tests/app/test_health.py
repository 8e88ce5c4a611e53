"""Liveness and readiness."""

from __future__ import annotations


def test_healthz_needs_nothing(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_database_broker_and_blobs(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "broker": "ok", "blob_storage": "ok"}


def test_readyz_names_the_broker_when_it_is_down(client, redis_server) -> None:
    redis_server.stop()
    try:
        response = client.get("/readyz")
    finally:
        redis_server.start()
    assert response.status_code == 503
    assert response.json["checks"]["broker"].startswith("unavailable")
    assert response.json["checks"]["database"] == "ok"
