"""The web UI's pure parts: chart geometry, the submit form's request, the sentences of
"why is my job waiting", where a login may return to."""

from __future__ import annotations

import os
import pwd

import pytest

from mlrp.errors import InvalidSpec
from mlrp.web.charts import OTHERS, SERIES_SHOWN, nice_scale, stacked_bars
from mlrp.web.forms import SubmitForm, sbatch_request
from mlrp.web.pages import safe_next
from mlrp.web.views import why_waiting

ME = pwd.getpwuid(os.geteuid()).pw_name


@pytest.mark.parametrize(
    ("maximum", "step", "top"),
    [(0.0, 1.0, 4.0), (34.0, 10.0, 40.0), (3.2, 1.0, 4.0), (40.0, 10.0, 40.0), (7.0, 2.0, 8.0)],
)
def test_axes_end_on_a_round_number(maximum: float, step: float, top: float) -> None:
    assert nice_scale(maximum) == (step, top)


def test_bars_stack_to_each_days_total_and_extra_series_are_folded() -> None:
    series = {f"acct{i}": [float(10 - i), 0.0] for i in range(SERIES_SHOWN + 2)}
    chart = stacked_bars(["05-01", "05-02"], series, title="t", unit="GPU-hours")
    assert [item.name for item in chart.legend][-1] == OTHERS
    assert len(chart.legend) == SERIES_SHOWN + 1
    assert chart.legend[-1].total == 3.0 + 2.0  # the two smallest
    first_day = [s for s in chart.segments if s.day == "05-01"]
    assert sum(s.value for s in first_day) == sum(v[0] for v in series.values())
    assert not [s for s in chart.segments if s.day == "05-02"]  # nothing that day
    assert min(s.y for s in first_day) >= chart.ticks[-1].y  # within the axis


def test_the_form_becomes_the_request_the_cli_would_send() -> None:
    form = SubmitForm.of({"command": "python train.py --name 'a b'", "gpus": "2",
                          "time": "1:00:00", "account": " vision ", "extra": "--mem=4G",
                          "hold": "on"})  # fmt: skip
    request = sbatch_request(form, user=ME)
    assert request["rest"] == ["python", "train.py", "--name", "a b"]
    assert request["after_double_dash"] is True
    assert request["options"] == ["--gpus=2", "--time=1:00:00", "--account=vision",
                                  "--mem=4G", "--hold"]  # fmt: skip
    assert request["workdir"] == pwd.getpwnam(ME).pw_dir
    assert request["environ"]["USER"] == ME


def test_a_pasted_script_travels_as_a_file() -> None:
    request = sbatch_request(SubmitForm.of({"script": "#!/bin/sh\r\necho hi\r\n"}), user=ME)
    assert (request["file_name"], request["file_text"]) == ("web-submit.sh", "#!/bin/sh\necho hi\n")
    assert request["rest"] == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "nothing to run"),
        ({"command": "true", "script": "#!/bin/sh\n"}, "not both"),
        ({"command": "echo 'unclosed"}, "cannot be split into words"),
    ],
)
def test_forms_that_are_no_request_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        sbatch_request(SubmitForm.of(fields), user=ME)


def test_why_waiting_says_reason_place_start_and_who_is_ahead() -> None:
    explained = {
        "display_id": "7", "state": "PENDING", "reason_text": "higher-priority jobs are ahead",
        "position": 2, "pending": 5, "expected_start": None, "priority": 1500.0,
        "factors": {"age": {"weighted": 100.0}, "fairshare": {"weighted": 1400.0}},
        "ahead": [{"display_id": "3", "user": "bob", "account": "nlp",
                   "lead_text": "its QOS has a higher priority"}],
    }  # fmt: skip
    assert why_waiting(explained, now=0.0) == [
        "Job 7 is waiting: higher-priority jobs are ahead.",
        "It is number 2 of 5 jobs waiting.",
        "No start time can be estimated for it yet.",
        "Job 3 (bob, account nlp) is ahead of it because its QOS has a higher priority.",
        "Its priority is 1500.0; most of it comes from its fairshare factor.",
    ]
    running = {**explained, "state": "RUNNING"}
    assert why_waiting(running, now=0.0) == ["Job 7 is not waiting: it is RUNNING."]


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/jobs/3", "/jobs/3"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_after_login_only_this_sites_pages(target: str, kept: str) -> None:
    assert safe_next(target) == kept
