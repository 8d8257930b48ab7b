"""The production layout, as far as this machine can run it: docker/nginx.conf in front of a
gunicorn (REST) and a daphne (/ws/), and the compose file's shape. (No Docker engine here.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import requests
import websockets
import yaml
from rest_framework_simplejwt.tokens import AccessToken

from tests.e2e.servers import ROOT, free_port, wait_for_port
from tests.e2e.test_socketio import SioClient

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]


def render_nginx(tmp_path, listen: int, api: int, ws: int):
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    for old, new in (
        ("server api:8000;", f"server 127.0.0.1:{api};"),
        ("server ws:8001;", f"server 127.0.0.1:{ws};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("/tmp/", f"{tmp_path}/"),
        ("error_log /dev/stderr warn;", f"error_log {tmp_path}/error.log warn;"),
        ("access_log /dev/stdout;", f"access_log {tmp_path}/access.log;"),
    ):
        assert old in conf, old
        conf = conf.replace(old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    return path


@pytest.fixture
def gunicorn(daphnes):
    port = free_port()
    env = dict(daphnes[0].env, DB_CONN_MAX_AGE="60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "k12.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_nginx_proxies_rest_and_websocket_upgrades(world, daphnes, gunicorn, tmp_path):
    listen = free_port()
    conf = render_nginx(tmp_path, listen, gunicorn, daphnes[0].port)
    check = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
    try:
        wait_for_port(listen, nginx)
        base = f"http://127.0.0.1:{listen}"
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

        # the guide's socket.io client through the proxy: long-polling, then the upgrade
        client = SioClient(SimpleNamespace(http=base), token)
        try:
            assert client.expect("open")["transport"] == "polling"
            assert client.expect("upgrade")["transport"] == "websocket"
            client.expect("connect")
            assert client.join(sid)["status"] == "ok"
        finally:
            client.close()
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


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
    assert services["ws"]["environment"]["DB_CONN_MAX_AGE"] == "0"
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "USER app" in dockerfile and "collectstatic" in dockerfile and "-slim" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY requirements"):
            source = line.split()[1]
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
