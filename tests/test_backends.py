"""The suite really talks to the backends it claims to: a live Redis server and
the database named by TEST_DATABASE_URL (PostgreSQL in `make test`'s second pass)."""
import os
import uuid

import redis
from sqlalchemy import text

from models import db


def test_redis_is_a_live_server_with_a_working_round_trip(redis_url):
    conn = redis.Redis.from_url(redis_url)
    assert conn.ping() is True
    info = conn.info("server")
    assert info["redis_version"] and info["process_id"] > 0  # a real server process

    key = f"test:{uuid.uuid4().hex}"
    assert conn.set(key, "值 value", ex=30) is True
    assert conn.get(key).decode() == "值 value"
    assert 0 < conn.ttl(key) <= 30
    assert conn.incr(f"{key}:n") == 1 and conn.incr(f"{key}:n") == 2
    assert conn.delete(key, f"{key}:n") == 2
    assert conn.get(key) is None


def test_app_uses_the_test_redis(app, redis_url):
    assert app.config["REDIS_URL"] == redis_url


def test_database_is_the_one_the_test_run_asked_for(app):
    wanted = "postgresql" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") \
        else "sqlite"
    assert db.engine.dialect.name == wanted
    assert db.session.execute(text("SELECT 1 + 1")).scalar_one() == 2
