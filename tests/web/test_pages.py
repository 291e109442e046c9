"""The pages and form posts of the web UI in-process (the daemon's app on a real store,
jobs never run): what they show, who they show it to, and how they refuse.

Requests "over the Unix socket" carry peer credentials; the others are TCP ones, with a
token or the browser session of POST /api/v1/login (whose forms must send the CSRF
token back).
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Iterator

import pytest
from api_support import ApiWorld, api_world, unix_users, users_skip_reason
from fastapi.testclient import TestClient

ME = pwd.getpwuid(os.geteuid()).pw_name
PAGES = ("/", "/jobs/1", "/submit", "/share", "/usage")


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    with api_world() as world:
        yield world


def submit(client: TestClient, **spec: object) -> int:
    reply = client.post("/api/v1/jobs", json={"argv": ["sleep", "100"], **spec})
    assert reply.status_code == 201, reply.text
    job_id: int = reply.json()["ids"][0]
    return job_id


def browser_session(world: ApiWorld) -> tuple[TestClient, str]:
    """A TCP client logged in like a browser, and its CSRF token."""
    client = world.tcp()
    reply = client.post("/api/v1/login", data={"user": ME, "token": world.token_for()})
    assert reply.status_code == 200, reply.text
    return client, client.cookies["mlrp_csrf"]


def alert(html: str) -> str:
    """The text of the page's alert (an error message)."""
    found = re.search(r'role="alert"[^>]*>(.*?)</(?:p|div)>', html, re.S)
    assert found, html
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def rows(html: str, table: str) -> int:
    """How many body rows the table with this id has."""
    found = re.search(rf'<table id="{table}"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, html
    return found.group(1).count("<tr")


def text(html: str) -> str:
    """The page's words, with the markup's line breaks and indentation folded."""
    return " ".join(html.split())


def test_without_credentials_every_page_sends_to_the_login_page(world: ApiWorld) -> None:
    client = world.tcp()
    for path in PAGES:
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"] == f"/login?next={path}"
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/events").status_code == 401  # the API's JSON error
    assert client.get("/static/app.css").status_code == 200


def test_the_login_page_returns_only_to_this_site(world: ApiWorld) -> None:
    client = world.tcp()
    for target, kept in (("/jobs/3?log=err", "/jobs/3?log=err"), ("//evil.example/", "/"),
                         ("https://evil.example/", "/")):  # fmt: skip
        html = client.get("/login", params={"next": target}).text
        assert f'data-next="{kept}"' in html.replace("&amp;", "&")


def test_the_dashboard_shows_gpus_their_holders_and_the_queue(world: ApiWorld) -> None:
    me = world.unix()
    held = submit(me, name="waiting-one", hold=True, gpus=1)
    html = me.get("/").text
    assert rows(html, "gpus") == 4
    assert "0</strong> of 4 GPUs in use" in html
    assert rows(html, "pending") == 1 and rows(html, "my-jobs") == 1
    assert "waiting-one" in html and f'href="/jobs/{held}"' in html
    assert "waiting for the next scheduling pass" in html  # none runs here
    assert "PENDING (held)" in html


def test_the_job_page_shows_spec_timeline_and_buttons_to_its_owner(world: ApiWorld) -> None:
    me = world.unix()
    job = submit(me, name="mine", hold=True, env={"SECRET": "s3"}, gpus=2)
    html = me.get(f"/jobs/{job}").text
    assert "Job 1: mine" in html
    assert "sleep 100" in html and "SECRET=s3" in html
    assert "Submitted" in html and "Expected start" in html
    assert 'id="cancel"' in html and 'id="release"' in html
    assert f'data-stream="/api/v1/jobs/{job}/logs/stream?stream=out"' in html


def test_a_missing_job_is_a_page_saying_so(world: ApiWorld) -> None:
    reply = world.unix().get("/jobs/42")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert alert(reply.text) == "no job 42"
    assert world.unix().get("/jobs/not-a-number").status_code == 404


def test_the_form_submits_a_command_and_a_pasted_script(world: ApiWorld) -> None:
    me = world.unix()
    form = {"command": "python train.py --lr '1e-3'", "gpus": "1", "time": "30", "name": "web"}
    reply = me.post("/submit", data=form, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/jobs/1?done=submitted"
    job = me.get("/api/v1/jobs/1").json()
    assert job["spec"]["argv"] == ["python", "train.py", "--lr", "1e-3"]
    assert (job["name"], job["gpu_count"], job["time_limit"]) == ("web", 1, 1800)
    assert job["spec"]["workdir"] == pwd.getpwnam(ME).pw_dir

    script = "#!/bin/sh\n#SBATCH --gpus=2\n#SBATCH --job-name=scripted\necho hi\n"
    reply = me.post("/submit", data={"script": script, "time": "5"}, follow_redirects=False)
    assert reply.status_code == 303
    job = me.get("/api/v1/jobs/2").json()
    assert (job["name"], job["gpu_count"], job["time_limit"]) == ("scripted", 2, 300)


def test_a_refused_submission_shows_the_message_and_keeps_the_form(world: ApiWorld) -> None:
    me = world.unix()
    reply = me.post("/submit", data={"command": "true", "gpus": "99"})
    assert reply.status_code == 422
    assert "99" in alert(reply.text) and "GPU" in alert(reply.text)
    assert 'value="99"' in reply.text and 'value="true"' in reply.text
    both = me.post("/submit", data={"command": "true", "script": "#!/bin/sh\ntrue\n"})
    assert "not both" in alert(both.text)
    unbalanced = me.post("/submit", data={"command": "echo 'oops"})
    assert "cannot be split into words" in alert(unbalanced.text)
    assert me.get("/api/v1/jobs").json()["jobs"] == []


def test_browser_forms_need_the_csrf_token(world: ApiWorld) -> None:
    client, csrf = browser_session(world)
    job = submit(world.unix(), hold=True)
    refused = client.post(f"/jobs/{job}/cancel", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert "CSRF" in alert(refused.text)
    assert world.unix().get(f"/api/v1/jobs/{job}").json()["state"] == "PENDING"

    done = client.post(f"/jobs/{job}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/jobs/{job}?done=cancel"
    assert world.unix().get(f"/api/v1/jobs/{job}").json()["state"] == "CANCELLED"
    page = client.get(done.headers["location"]).text
    assert f"Cancel requested for job {job}" in page and 'id="cancel"' not in page
    assert 'name="csrf_token" value="' + csrf + '"' in client.get("/submit").text


def test_hold_and_release_from_the_job_page(world: ApiWorld) -> None:
    me = world.unix()
    job = submit(me, hold=True)
    assert me.post(f"/jobs/{job}/release").url.path == f"/jobs/{job}"
    assert me.get(f"/api/v1/jobs/{job}").json()["held"] is False
    me.post(f"/jobs/{job}/hold")
    assert me.get(f"/api/v1/jobs/{job}").json()["held"] is True
    assert me.post(f"/jobs/{job}/explode").status_code == 404


def test_the_log_stream_of_an_ended_job_says_it_ended(world: ApiWorld) -> None:
    me = world.unix()
    job = submit(me, hold=True)
    me.post("/api/v1/jobs/cancel", json={"targets": [str(job)]})
    with me.stream("GET", f"/api/v1/jobs/{job}/logs/stream") as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        body = reply.read().decode()
    assert "event: hello" in body
    assert 'event: end\ndata: {"state":"CANCELLED"}' in body
    assert me.get("/api/v1/jobs/99/logs/stream").status_code == 404


def test_the_fair_share_page_explains_my_waiting_jobs(world: ApiWorld) -> None:
    me = world.unix()
    job = submit(me, hold=True, name="patient")
    html = me.get("/share").text
    assert f"Job {job} is waiting: " in html  # (no scheduling pass runs here)
    assert "account default" in text(html)
    asked = me.get("/share", params={"job": job}).text
    assert 'id="asked"' in asked


def test_the_usage_page_has_charts_and_tables(world: ApiWorld) -> None:
    html = world.unix().get("/usage", params={"days": 7}).text
    assert "GPU-hours per account" in html and "GPU-hours per user" in html
    assert "No GPU time was used in this period." in html  # nothing ran here
    assert world.unix().get("/usage", params={"days": 0}).status_code == 422


# ----------------------------------------------------------------------- roles


SKIP = users_skip_reason()


@pytest.mark.multiuser
@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_another_users_job_shows_no_private_parts_and_no_buttons() -> None:
    with unix_users("alice", "bob", "carol") as users:
        names = {role: entry.pw_name for role, entry in users.items()}
        config = f"""
[[scheduler.accounts]]
name = "vision"
users = ["{names["alice"]}", "{names["bob"]}"]
coordinators = ["{names["carol"]}"]
"""
        with api_world(config, multi_user=True) as world:
            alice, bob, carol = (world.tcp(world.token_for(users[r].pw_uid)) for r in names)
            job = submit(alice, hold=True, env={"SECRET": "s3"}, argv=["train", "--key=k9"])

            seen = text(bob.get(f"/jobs/{job}").text)
            for private in ("SECRET", "s3", "--key=k9", 'id="log"', 'id="cancel"', "release"):
                assert private not in seen
            assert f"shown only to its owner ({names['alice']})" in seen
            assert f"/jobs/{job}" in bob.get("/").text  # the queue's metadata is everyone's

            refused = bob.post(f"/jobs/{job}/cancel")
            assert refused.status_code == 403 and names["alice"] in alert(refused.text)
            assert bob.get(f"/api/v1/jobs/{job}/logs/stream").status_code == 403

            coordinated = carol.get(f"/jobs/{job}").text
            assert "SECRET=s3" in coordinated and 'id="cancel"' in coordinated
