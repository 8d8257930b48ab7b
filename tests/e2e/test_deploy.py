"""The production layout, as far as this machine can run it: docker/nginx.conf in front of the
REST process (docker/Dockerfile's command), the upload pool and a daphne (/ws/), and the compose
file's shape. (No Docker engine here.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from types import SimpleNamespace

import pytest
import requests
import websockets
import yaml
from rest_framework_simplejwt.tokens import AccessToken

from tests.e2e.servers import ROOT, free_port
from tests.e2e.slow_clients import (
    Granian,
    Gunicorn,
    Nginx,
    dockerfile_command,
    render_nginx,
    timed_gets,
    trickle_the_adversarial_load,
    upload_in_background,
)
from tests.e2e.test_socketio import SioClient
from tests.sessions_app.conftest import make_clip

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gunicorn(daphnes, tmp_path):
    """The REST process (docker/Dockerfile's command, two workers) and the upload pool (threads,
    as compose.yaml's `uploads`), both serving this project."""
    env = dict(daphnes[0].env, MEDIA_ROOT=str(tmp_path / "media"))
    rest = Granian(dict(env, DB_POOL_MAX="1"), ["--workers", "2"]).start()
    uploads = Gunicorn(dict(env, DB_POOL_MAX="8"), ["-k", "gthread", "-w", "1", "--threads", "8"]).start()
    yield SimpleNamespace(port=rest.port, uploads=uploads.port)
    rest.stop()
    uploads.stop()


@pytest.fixture
def proxy(daphnes, gunicorn, tmp_path):
    listen = free_port()
    conf = render_nginx(tmp_path, listen, gunicorn.port, daphnes[0].port, gunicorn.uploads)
    nginx = Nginx(conf, tmp_path, listen).start()
    yield f"http://127.0.0.1:{listen}", listen
    nginx.stop()


def test_nginx_proxies_rest_and_websocket_upgrades(world, proxy):
    base, listen = proxy
    assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    token = str(AccessToken.for_user(world.tutor))
    sid = str(world.booking.id)

    async def scenario():
        async with websockets.connect(f"ws://127.0.0.1:{listen}/ws/encounters/", origin="http://127.0.0.1") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "joinSession", "sessionId": sid}))
            assert json.loads(await ws.recv())["type"] == "joined"
            posted = await asyncio.to_thread(
                requests.post,
                f"{base}/api/sessions/{sid}/messages",
                json={"text": "through nginx"},
                headers={"Authorization": f"Bearer {AccessToken.for_user(world.parent)}"},
                timeout=10,
            )
            assert posted.status_code == 201, posted.text
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            assert frame["type"] == "newMessage" and frame["message"]["text"] == "through nginx"

    asyncio.run(scenario())

    # a socket.io client with its defaults, through the proxy: long-polling, then the upgrade
    with SioClient(SimpleNamespace(http=base), token) as client:
        assert client.expect("open")["transport"] == "polling"
        assert client.expect("upgrade")["transport"] == "websocket"
        client.expect("connect")
        assert client.join(sid)["status"] == "ok"


def test_slow_clients_leave_the_rest_answering_and_uploads_working(world, proxy):
    # given 50 clients trickling request bodies to ordinary endpoints (anonymous logins and a
    # parent's posts) and 5 trickling a recording upload as the session's tutor
    base, listen = proxy
    world.child.recording_consent = True
    world.child.save(update_fields=["recording_consent"])
    sid = str(world.booking.id)
    parent = {"Authorization": f"Bearer {AccessToken.for_user(world.parent)}"}
    tricklers = trickle_the_adversarial_load(
        listen, sid, str(AccessToken.for_user(world.parent)), str(AccessToken.for_user(world.tutor))
    )
    clip = make_clip("webm", video="libvpx", audio="libopus", seconds=1.0)
    try:
        time.sleep(2)  # long enough for a trickler to hold a worker, had it got one
        # when an upload is made meanwhile (by staff), and ordinary requests are made
        upload = upload_in_background(base, sid, str(AccessToken.for_user(world.admin)), clip)
        health = timed_gets(f"{base}/healthz", 20)
        me = timed_gets(f"{base}/api/me", 20, headers=parent)
        # then every one of them answers, and the upload completes
        assert None not in health and None not in me
        assert upload.result().status_code == 201, upload.result().text
        # the tutor holds at most 2 uploads in flight: the other 3 were refused at the door
        answers = tricklers.answered()
        refused = [line for line in answers if b" 429 " in line]
        assert len(refused) == 3
    finally:
        tricklers.stop()


def test_nginx_answers_its_own_refusals_in_json(world, proxy):
    base, _ = proxy
    response = requests.post(f"{base}/api/auth/token", data=b"x" * (11 * 1024 * 1024), timeout=30)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large."}


def test_compose_file_describes_the_production_layout():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "minio", "migrate", "api", "ws", "nginx"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2 and services["ws"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert "daphne" in services["ws"]["command"]
    for name in ("api", "ws"):
        env = services[name]["environment"]
        assert env["DJANGO_DEBUG"] == "0" and env["REDIS_URL"].startswith("redis://redis")
        assert env["DATABASE_URL"].startswith("postgres://") and env["AWS_STORAGE_BUCKET_NAME"]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # a pooled connection per thread that uses the database (DB_CONN_MAX_AGE unset: the pool keeps them)
    # the REST process: granian's WSGI workers, one Python thread each, so one connection each
    rest = dockerfile_command()
    assert rest[:3] == ["granian", "--interface", "wsgi"] and rest[-1] == "k12.wsgi:application"
    assert rest[rest.index("--blocking-threads") + 1] == services["api"]["environment"]["DB_POOL_MAX"] == "1"
    assert int(services["api"]["environment"]["DB_STATEMENT_TIMEOUT_MS"]) > 0  # nothing else ends a request
    assert services["ws"]["environment"]["DB_POOL_MAX"] == services["ws"]["environment"]["ASGI_THREADS"]
    assert not any("DB_CONN_MAX_AGE" in service.get("environment", {}) for service in services.values())
    # background work: workers and one beat, on the same image and settings (Redis as the broker)
    assert services["worker"]["command"][:4] == ["celery", "-A", "k12", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "k12", "beat"]
    for name in ("worker", "beat"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis")
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # the recording upload has a pool of its own, which nginx needs
    assert "gthread" in services["uploads"]["command"] and "uploads" in services["nginx"]["depends_on"]
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "USER app" in dockerfile and "collectstatic" in dockerfile and "-slim" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY requirements"):
            source = line.split()[1]
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def _listen_backlog(port: int) -> int:
    """The kernel's accept queue bound of the socket listening on ``port`` (``ss``'s Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def test_daphne_listens_with_room_for_a_reconnect_storm(daphnes):
    # When a server process dies, every socket it held reconnects to the others within a second
    # or two. Twisted's default accept queue (50) overflows: the kernel drops the SYNs and the
    # clients' retries come seconds later. Production and the processes the tests and benchmarks
    # start listen alike.
    command = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]["ws"]["command"]
    endpoint = dict(part.split("=", 1) for part in command[command.index("-e") + 1].split(":")[1:])
    assert int(endpoint["backlog"]) >= 1024
    assert endpoint["port"] == "8001" and endpoint["interface"] == "0.0.0.0"
    assert "-b" not in command and "-p" not in command  # the endpoint is its only listener
    assert _listen_backlog(daphnes[0].port) == int(endpoint["backlog"])
