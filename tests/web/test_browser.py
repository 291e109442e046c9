"""The web UI in a real headless Chromium against a real daemon on a TCP port: what a
person sees and does. Each test saves a screenshot in tests/web/screenshots/.

Waits are Playwright's (`expect(...)` retries until the page shows it, or fails after
the context's 20 s), never fixed sleeps; no test asserts how long anything took.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from web_support import ME, PASSWORD, WebDaemon, log_in, shot

expect = pytest.importorskip("playwright.sync_api").expect


def gate_command(gate: Path) -> str:
    """A job that prints `first`, waits for `gate` to exist, then prints `second`."""
    return f"sh -c 'echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo second'"


def logged_in(page: Any, web_daemon: WebDaemon) -> Any:
    log_in(page, ME, web_daemon.token)
    expect(page).to_have_url(re.compile(r"/$"))
    return page


def test_login_with_the_keyboard_then_log_out(page: Any, web_daemon: WebDaemon) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))  # sent to log in first
    expect(page.get_by_label("User")).to_be_focused()
    page.keyboard.type(ME)
    page.keyboard.press("Tab")  # the "Sign in with" radio group: API token is checked
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type(web_daemon.token)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {ME}")).to_be_visible()
    expect(page.locator("#gpus tbody tr")).to_have_count(8)
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    page.keyboard.press("Tab")  # the first stop on every page: skip to the content
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    shot(page, "dashboard")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/submit")
    expect(page).to_have_url(re.compile(r"/login\?next=/submit$"))


def test_a_wrong_token_is_refused_and_a_password_works(page: Any, web_daemon: WebDaemon) -> None:
    log_in(page, ME, "mlrp_not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("wrong user name, password or token")
    shot(page, "login-refused")
    log_in(page, ME, PASSWORD, kind="password")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_submit_through_the_form(page: Any, web_daemon: WebDaemon) -> None:
    logged_in(page, web_daemon).get_by_role("link", name="Submit").click()
    page.get_by_label("Command").fill("echo hello from the form")
    page.get_by_label("GPUs").fill("2")
    page.get_by_label("Time limit").fill("10:00")
    page.get_by_label("Job name").fill("form-job")
    page.get_by_label("Account").fill("vision")
    shot(page, "submit-form")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("status")).to_contain_text("submitted")
    expect(page.get_by_role("heading", level=1)).to_contain_text("form-job")
    spec = page.locator("dl.spec")
    expect(spec).to_contain_text("echo hello from the form")
    expect(spec).to_contain_text("vision")
    expect(page.locator("#log")).to_contain_text("hello from the form")
    expect(page.locator(".summary")).to_contain_text("COMPLETED")
    expect(page.locator(".timeline")).to_contain_text("Ended")
    shot(page, "submitted-job")


def test_a_bad_submission_shows_the_clis_message(page: Any, web_daemon: WebDaemon) -> None:
    cli = web_daemon.daemon.cli("submit", "--time", "banana", "--", "true")
    assert cli.code == 1
    message = cli.err.strip().removeprefix("mlrp submit: error: ")

    logged_in(page, web_daemon).goto("/submit")
    page.get_by_label("Command").fill("true")
    page.get_by_label("Time limit").fill("banana")
    page.get_by_role("button", name="Submit").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not submitted")
    expect(alert).to_contain_text(message)
    expect(page.get_by_label("Command")).to_have_value("true")  # the form is kept
    expect(page.get_by_label("Time limit")).to_have_value("banana")
    shot(page, "submit-refused")
    assert web_daemon.daemon.client.jobs() == []


def test_the_log_grows_live_until_the_job_ends(
    page: Any, web_daemon: WebDaemon, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    job = web_daemon.daemon.submit("--job-name", "chatty", "--wrap", gate_command(gate))
    logged_in(page, web_daemon).goto(f"/jobs/{job}")
    log = page.locator("#log")
    expect(log).to_contain_text("first")
    expect(page.locator(".summary")).to_contain_text("RUNNING")
    page.evaluate("window.loadedOnce = true")
    shot(page, "log-first-line")

    gate.touch()
    expect(log).to_contain_text("second")
    expect(page.locator(".summary")).to_contain_text("COMPLETED")
    expect(page.locator("#log-status")).to_contain_text("The job ended (COMPLETED)")
    assert page.evaluate("window.loadedOnce") is True  # the same page: nothing reloaded it
    shot(page, "log-complete")


def test_cancel_a_running_job(page: Any, web_daemon: WebDaemon) -> None:
    job = web_daemon.daemon.submit("--job-name", "long", "--gpus", "1", "--", "sleep", "300")
    web_daemon.daemon.wait(job, {"RUNNING"})
    logged_in(page, web_daemon).goto(f"/jobs/{job}")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.get_by_role("status")).to_contain_text(f"Cancel requested for job {job}")
    expect(page.locator(".summary")).to_contain_text("CANCELLED")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    shot(page, "cancelled-job")
    assert web_daemon.daemon.job(job)["state"] == "CANCELLED"


def test_hold_from_the_form_then_release(page: Any, web_daemon: WebDaemon) -> None:
    logged_in(page, web_daemon).goto("/submit")
    page.get_by_label("Command").fill("true")
    page.get_by_label("Submit held").check()
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".summary")).to_contain_text("PENDING (held)")
    page.get_by_role("button", name="Release job").click()
    expect(page.get_by_role("status")).to_contain_text("released")
    expect(page.locator(".summary")).to_contain_text("COMPLETED")


def test_the_dashboard_shows_new_jobs_without_reloading(page: Any, web_daemon: WebDaemon) -> None:
    logged_in(page, web_daemon)
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    page.evaluate("window.loadedOnce = true")
    web_daemon.daemon.submit("--job-name", "appears-live", "--hold", "--", "true")
    row = page.locator("#pending tr", has_text="appears-live")
    expect(row).to_contain_text("PENDING (held)")
    expect(page.locator("#my-jobs")).to_contain_text("appears-live")
    assert page.evaluate("window.loadedOnce") is True
    shot(page, "dashboard-live")


def test_the_fair_share_page_says_why_my_job_waits(
    page: Any, web_daemon: WebDaemon, tmp_path: Path
) -> None:
    daemon = web_daemon.daemon
    blocker = daemon.submit("--as-user", "u1", "--gpus", "8", "--", "sleep", "300")
    daemon.wait(blocker, {"RUNNING"})
    waiting = daemon.submit("--job-name", "needs-two", "--gpus", "2", "--", "true")

    logged_in(page, web_daemon).get_by_role("link", name="Fair share").click()
    tree = page.locator("#share-tree")
    for name in ("account vision", "account nlp", f"user {ME}", "user u1", "user u2"):
        expect(tree).to_contain_text(name)
    card = page.get_by_role("article", name=f"Job {waiting}")
    expect(card).to_contain_text(f"Job {waiting} is waiting")
    expect(card).to_contain_text("waiting for enough GPUs to be free at once")
    shot(page, "fair-share")

    page.get_by_label("Explain job").fill(str(blocker))
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#asked")).to_contain_text(f"Job {blocker} is not waiting: it is RUNNING")


def test_the_usage_page_charts_the_history(page: Any, web_daemon: WebDaemon) -> None:
    logged_in(page, web_daemon).get_by_role("link", name="Usage").click()
    accounts = page.locator("#chart-accounts")
    expect(accounts.locator("svg[role=img] rect")).not_to_have_count(0)
    legend = accounts.locator(".legend")
    expect(legend).to_contain_text("vision")
    expect(legend).to_contain_text("nlp")
    expect(page.locator("#chart-users .legend")).to_contain_text("u2")
    shot(page, "usage")
    page.get_by_label("Period").select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/usage\?days=7$"))
    expect(page.get_by_text("last 7 days")).to_be_attached()


def test_a_small_screen_gets_one_column(browser: Any, web_daemon: WebDaemon) -> None:
    context = browser.new_context(base_url=web_daemon.url, viewport={"width": 390, "height": 844})
    try:
        phone = logged_in(context.new_page(), web_daemon)
        overflow = phone.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert overflow is False  # nothing pushes the page sideways
        shot(phone, "dashboard-small-screen")
    finally:
        context.close()
