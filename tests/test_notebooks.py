"""The notebooks end to end: each executed by papermill on tiny data, the README command,
an nbval smoke run of the committed notebooks, and the report opened in headless Chromium
with the network off."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from logrecon import report

CHROMIUM = os.environ.get("LOGRECON_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser") or shutil.which("google-chrome")
XSS = "<img src=x onerror=alert(1)>"
ESCAPE = "../../x"
FIGURES = {f"figure-{name}" for name in ("event_volume", "errors_by_service",
                                          "latency_distribution", "session_durations",
                                          "data_quality")}
SERVICES = ("api", XSS, ESCAPE, "[link](https://evil.example)")


def write_tiny_logs(path: Path) -> dict:
    """A tiny log with one of each fault; returns the counts the run must account for.

    Four services (three hostile names) with 12 sessions each, 10 s apart; `api` then has a
    10-minute silence (a gap); one exact duplicate; one unparseable timestamp (quarantined);
    one START with no STOP; one late event.
    """
    rows = []
    t0 = pd.Timestamp("2024-05-01T00:00:00Z")
    for s, service in enumerate(SERVICES):
        for i in range(12):
            start = t0 + pd.Timedelta(seconds=10 * i + s)
            rows.append((start, service, "START", "", f"{s}-{i}"))
            if i == 5:
                rows.append((start + pd.Timedelta(milliseconds=200), service, "ERROR", "", f"{s}-{i}"))
            rows.append((start + pd.Timedelta(milliseconds=1500 + 10 * i), service, "STOP",
                         str(1500 + 10 * i), f"{s}-{i}"))
    for i in range(12, 15):                     # api comes back after ten quiet minutes
        start = t0 + pd.Timedelta(seconds=10 * i + 600)
        rows.append((start, "api", "START", "", f"0-{i}"))
        rows.append((start + pd.Timedelta(seconds=1), "api", "STOP", "1000", f"0-{i}"))
    rows.sort(key=lambda r: r[0])
    text = [[r[0].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", *r[1:]] for r in rows]
    text.insert(10, list(text[9]))                                    # an exact duplicate
    text.insert(20, ["not-a-time", "api", "START", "", "q-1"])        # quarantined
    text.append(["2024-05-01T00:20:00.000Z", ESCAPE, "START", "", "orphan"])  # never stopped
    late = ["2024-05-01T00:00:30.500Z", "api", "ERROR", "", "0-3"]
    text.append(late)                                                 # arrives late
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "service", "event_type", "latency_ms", "session_id"])
        writer.writerows(text)
    return {"records": len(text), "duplicates": 1, "quarantined": 1}


def errors_in(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [f"{o['ename']}: {o['evalue']}" for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def outputs_text(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts.append(data.get("text/markdown", "") + data.get("text/html", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The five notebooks executed by papermill on the tiny log, then the report rendered."""
    root = tmp_path_factory.mktemp("tiny")
    expected = write_tiny_logs(root / "logs.csv")
    run_dir = root / "run"
    executed = report.execute_notebooks(run_dir, {"inputs": [str(root / "logs.csv")],
                                                  "gap_threshold": 120}, progress=False)
    html = report.render_report(executed[-1], run_dir / "report.html")
    return {"root": root, "run": run_dir, "executed": executed, "html": html, "expected": expected}


def test_every_notebook_runs_clean_and_is_kept_in_the_run(tiny_run):
    assert [p.name for p in tiny_run["executed"]] == list(report.NOTEBOOKS)
    for notebook in tiny_run["executed"]:
        assert notebook.parent == tiny_run["run"] / "notebooks"
        assert errors_in(notebook) == [], notebook.name


def test_01_ingest_quarantines_the_bad_record_and_says_how_many(tiny_run):
    quarantine = pd.read_csv(tiny_run["run"] / "quarantine.csv")
    assert len(quarantine) == 1 and "invalid_timestamp" in quarantine["reasons"].iloc[0]
    text = outputs_text(tiny_run["run"] / "notebooks" / "01_ingest.ipynb")
    assert f"**{tiny_run['expected']['records']:,}** records" in text
    assert "**1** (" in text                                   # one quarantined, with its share


def test_02_normalize_removes_the_duplicate_and_finds_the_late_event(tiny_run):
    duplicates = pd.read_csv(tiny_run["run"] / "duplicates.csv")
    cleaned = pd.read_csv(tiny_run["run"] / "cleaned_logs.csv", keep_default_na=False)
    expected = tiny_run["expected"]
    assert len(duplicates) == 1
    assert len(cleaned) == expected["records"] - expected["duplicates"] - expected["quarantined"]
    assert cleaned["timestamp"].is_monotonic_increasing
    text = outputs_text(tiny_run["run"] / "notebooks" / "02_normalize.ipynb")
    assert "removed **1** duplicate" in text and "arrived late" in text


def test_03_validate_finds_the_gap_of_the_quiet_service(tiny_run):
    gaps = pd.read_csv(tiny_run["run"] / "gaps.csv", keep_default_na=False)
    checks = pd.read_csv(tiny_run["run"] / "validation_report.csv", keep_default_na=False)
    assert "api" in set(gaps["service"]) and gaps["gap_seconds"].max() > 500
    assert set(checks["status"]) <= {"ok", "warn", "fail"}
    text = outputs_text(tiny_run["run"] / "notebooks" / "03_validate.ipynb")
    assert "gap" in text and f"over {len(SERVICES)} services and the whole run" in text   # ALL is no service


def test_04_sessions_keeps_the_orphan_start(tiny_run):
    sessions = pd.read_csv(tiny_run["run"] / "reconstructed_sessions.csv", keep_default_na=False)
    orphan = sessions[(sessions["service"] == ESCAPE) & (sessions["status"] == "missing_stop")]
    assert len(orphan) == 1
    assert "missing_stop" in outputs_text(tiny_run["run"] / "notebooks" / "04_sessions.ipynb")


def test_05_report_writes_metrics_plots_and_a_complete_manifest(tiny_run):
    run = tiny_run["run"]
    metrics = pd.read_csv(run / "reliability_metrics.csv", keep_default_na=False)
    assert set(SERVICES) | {"ALL"} == set(metrics["service"])
    assert set(metrics["verdict"]) <= {"healthy", "degraded", "unreliable"}
    assert {p.name for p in (run / "plots").iterdir()} == {
        "event_volume.png", "errors_by_service.png", "latency_distribution.png",
        "session_durations.png", "data_quality.png"}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    accounting = manifest["row_accounting"]
    assert accounting["records_read"] == tiny_run["expected"]["records"]


def test_hostile_service_names_stay_inside_the_run_and_show_as_text(tiny_run):
    root = tiny_run["root"]
    outside = [p for p in root.parent.rglob("*") if root not in p.parents and p != root]
    assert not [p for p in outside if p.name == "x"], "a service name escaped the run directory"
    assert {p.name for p in root.iterdir()} == {"logs.csv", "run"}
    html = tiny_run["html"].read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html and "evil.example" in html
    assert 'href="https://evil.example' not in html


def test_report_html_is_self_contained_with_the_verdict_and_five_figures(tiny_run):
    html = tiny_run["html"].read_text(encoding="utf-8")
    assert report.offline_problems(html) == []
    assert all(f'id="{figure}"' in html for figure in FIGURES)
    assert 'id="verdicts"' in html and 'id="row-accounting"' in html
    assert html.index('id="verdicts"') < html.index('id="row-accounting"') < html.index(
        'id="data-quality"') < html.index('id="figure-event_volume"')
    assert "pipeline.metrics_step" not in html                   # code hidden
    assert "<code>logs.csv</code>" in html and "<code></code>" not in html   # code boxes hold their text
    assert f"of {len(SERVICES)} services" in html and "<td>ALL (whole run)</td>" in html


def test_the_same_input_gives_identical_csv_artifacts(tiny_run, tmp_path):
    """Two runs of the same input and parameters: byte-identical CSVs."""
    shutil.copy(tiny_run["root"] / "logs.csv", tmp_path / "logs.csv")
    again = tmp_path / "run"
    report.execute_notebooks(again, {"inputs": [str(tmp_path / "logs.csv")], "gap_threshold": 120},
                             progress=False)
    for first in sorted(tiny_run["run"].glob("*.csv")):
        second = (again / first.name).read_text().replace(str(tmp_path), str(tiny_run["root"]))
        assert first.read_text() == second, first.name


def test_the_readme_papermill_command_runs_as_written(tiny_run, tmp_path):
    """`papermill notebooks/02_normalize.ipynb out.ipynb -p run_dir reports/demo`, from a
    checkout whose reports/demo was started by notebook 01."""
    shutil.copytree(report.notebooks_dir(), tmp_path / "notebooks")
    shutil.copytree(tiny_run["run"], tmp_path / "reports" / "demo")
    papermill = Path(sys.executable).with_name("papermill")
    done = subprocess.run([str(papermill), "notebooks/02_normalize.ipynb", "out.ipynb",
                           "-p", "run_dir", "reports/demo"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert errors_in(tmp_path / "out.ipynb") == []
    assert (tmp_path / "reports" / "demo" / "cleaned_logs.csv").is_file()


def test_committed_notebooks_pass_an_nbval_smoke_run_with_their_defaults(tmp_path):
    """nbval runs the committed notebooks unchanged, so their defaults (`../data/demo/logs.csv`,
    `../reports/demo`, relative to notebooks/ as in JupyterLab) must work: a copy of the
    checkout layout with tiny demo data."""
    shutil.copytree(report.notebooks_dir(), tmp_path / "notebooks")
    (tmp_path / "data" / "demo").mkdir(parents=True)
    write_tiny_logs(tmp_path / "data" / "demo" / "logs.csv")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
         "--nbval-kernel-name", "python3", *(f"notebooks/{n}" for n in report.NOTEBOOKS)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    manifest = json.loads((tmp_path / "reports" / "demo" / "manifest.json").read_text())
    assert manifest["status"] == "complete"


# ---------------------------------------------------------------- headless Chromium


class Chromium:
    """Headless Chromium driven over `--remote-debugging-pipe` (DevTools protocol, stdlib
    only): commands go in on fd 3, replies and events come back on fd 4, NUL-separated."""

    def __init__(self, binary: str, profile_dir: str):
        cmd_read, self._cmd_write = os.pipe()
        self._res_read, res_write = os.pipe()

        def wire():  # in the child, before exec: move the pipe ends to fds 3 and 4
            high_in = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(res_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile_dir}", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--disable-default-apps", "--disable-extensions", "--proxy-server=127.0.0.1:9",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, close_fds=False)  # noqa: PLW1509 - pipe fds are non-inheritable (PEP 446)
        os.close(cmd_read)
        os.close(res_write)
        self._id = 0
        self._replies: dict[int, dict] = {}
        self._ready = threading.Condition()
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buffer = b""
        with os.fdopen(self._res_read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._ready:
                            self._replies[message["id"]] = message
                            self._ready.notify_all()
                    else:
                        self.events.put(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._id not in self._replies:
                if not self._ready.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(method)
            reply = self._replies.pop(self._id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self):
        with contextlib.suppress(Exception):  # it may be gone already
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_write)


PROBE = """JSON.stringify({
  figures: Array.from(document.querySelectorAll('figure.logrecon-figure')).map(f => f.id),
  loaded: Array.from(document.querySelectorAll('figure.logrecon-figure img'))
               .map(i => i.complete && i.naturalWidth > 0),
  verdictRows: document.querySelectorAll('table#verdicts tbody tr').length,
  verdictText: (document.querySelector('table#verdicts') || {innerText: ''}).innerText,
  scripts: document.scripts.length,
  handlers: document.querySelectorAll('[onerror],[onload],[onclick],[onmouseover]').length,
})"""


def load_offline(html_path: Path, timeout: float = 60) -> tuple[dict, list[str]]:
    """Open a page with the network emulated offline; return (DOM probe, problems seen):
    any request that is not file:/data:, any failed request, script exception, console
    error (CSP violations land there) or dialog."""
    profile = tempfile.mkdtemp(prefix="logrecon-chromium-")
    browser = Chromium(CHROMIUM, profile)
    problems: list[str] = []
    urls: dict[str, str] = {}
    loaded = False
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Network.enable", "Log.enable"):
            browser.send(method, session=session)
        browser.send("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=session)
        browser.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=session)

        def drain(seconds: float):
            nonlocal loaded
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    event = browser.events.get(timeout=left)
                except queue.Empty:
                    return
                method, params = event.get("method"), event.get("params", {})
                if method == "Page.loadEventFired":
                    loaded = True
                elif method == "Network.requestWillBeSent":
                    url = params["request"]["url"]
                    urls[params["requestId"]] = url
                    if not url.startswith(("file:", "data:")):
                        problems.append(f"network request: {url[:120]}")
                elif method == "Network.loadingFailed":
                    problems.append(f"request failed: {urls.get(params['requestId'], '?')[:120]}"
                                    f" ({params.get('errorText')})")
                elif method == "Runtime.exceptionThrown":
                    problems.append(f"script error: {params['exceptionDetails'].get('text')}")
                elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                    problems.append(f"console error: {params['entry'].get('text', '')[:200]}")
                elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                    problems.append("console.error called")
                elif method == "Page.javascriptDialogOpening":
                    problems.append(f"dialog opened: {params.get('message')}")
                    browser.send("Page.handleJavaScriptDialog", {"accept": True}, session=session)

        deadline = time.monotonic() + timeout
        while not loaded and time.monotonic() < deadline:
            drain(0.25)
        if not loaded:
            problems.append("the page never finished loading")
        drain(1.0)                       # anything that happens just after load
        value = browser.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                             session=session)["result"]["value"]
        return json.loads(value), problems
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium found (install Debian's `chromium` package "
                             "or set LOGRECON_CHROMIUM); the browser check of report.html is skipped")


@pytest.mark.browser
@needs_chromium
def test_report_opens_offline_in_chromium_with_no_request_no_script_error(tiny_run):
    probe, problems = load_offline(tiny_run["html"])
    assert problems == []
    assert set(probe["figures"]) == FIGURES and all(probe["loaded"]) and len(probe["loaded"]) == 5
    assert probe["verdictRows"] == len(SERVICES) + 1
    assert XSS in probe["verdictText"]                       # the name is shown as text
    assert probe["scripts"] == 0 and probe["handlers"] == 0


@pytest.mark.browser
@needs_chromium
def test_the_browser_check_catches_requests_and_script_errors(tmp_path):
    """Control: the same check on a page that calls out and injects a handler fails."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="https://cdn.example/x.png">'
                    '<script>undefinedFunction()</script></body></html>')
    _, problems = load_offline(page)
    assert any("cdn.example" in p for p in problems)
    assert any(p.startswith("script error") for p in problems)
