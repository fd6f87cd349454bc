"""Report rendering and display helpers: escaped, self-contained, failures named precisely."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from logrecon import report
from logrecon.errors import LogreconError
from logrecon.schema import StageResult

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "[click](https://evil.example/a)",
    "![pixel](http://evil.example/p.png)",
    "https://evil.example/b",
    "www.evil.example",
    "<https://evil.example/c>",
    "$<b>x</b>$",
    "**bold** _it_ `code`",
    "&lt;b&gt; already escaped",
    "a\\b | c # d",
]
EXTERNAL = re.compile(r"""(?:src|href|srcset|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==")


# ---------------------------------------------------------------- escaping


@pytest.mark.parametrize("text", HOSTILE)
def test_a_log_string_in_markdown_renders_as_exactly_its_text(text):
    """Through nbconvert's markdown renderer: no tag, link, emphasis or math is created."""
    rendered = markdown2html_mistune(f"service **{report.escape_markdown(text)}** end")
    inner = re.search(r"<strong>(.*)</strong>", rendered, re.DOTALL).group(1)
    assert "<" not in inner.replace("&lt;", "")          # no element came out of the name
    assert not EXTERNAL.search(rendered)
    assert _unescape(inner) == " ".join(text.split())


def _unescape(fragment: str) -> str:
    import html
    return html.unescape(fragment)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_log_string_in_a_table_is_escaped(text):
    table = report.html_table(pd.DataFrame({"service": [text], "events": [3]})).data
    assert "<img src=x" not in table and "<script>" not in table
    assert report.escape_html(text) in table
    assert not report.offline_problems(table)


def test_markdown_escape_flattens_newlines_so_a_name_cannot_start_a_block():
    assert "\n" not in report.escape_markdown("a\n# heading\n- item")


def test_inline_code_from_logs_is_escaped_without_backslashes_showing():
    rendered = markdown2html_mistune(report._code("logs.csv"))
    assert "<code>logs.csv</code>" in rendered


def test_inline_code_renders_exactly_its_text_in_the_rendered_report(tmp_path):
    """Through render_report (nbconvert with image embedding, which empties inline `<code>` HTML):
    every log string shows inside its own code box, nothing outside it, no empty box."""
    texts = ["logs.csv", "latency_spike_rate", "`", "``a``", "x`y", *HOSTILE]
    lines = "\n".join(f"- item {i}: {report._code(text)} end" for i, text in enumerate(texts))
    path = _executed_notebook(tmp_path / "05.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("report.summary(x)", outputs=[
        new_output("display_data", data={"text/markdown": lines, "text/plain": "<Markdown>"})]))
    nbformat.write(nb, path)
    html = report.render_report(path, tmp_path / "report.html").read_text(encoding="utf-8")
    shown = dict(re.findall(r"<li>item (\d+): <code>(.*?)</code> end</li>", html, re.DOTALL))
    assert [_unescape(shown.get(str(i), "missing")) for i in range(len(texts))] == texts
    assert "<code></code>" not in html and report.offline_problems(html) == []
    assert report._code("") == "–"


# ---------------------------------------------------------------- tables


def test_tables_show_the_top_rows_and_say_how_many_more_and_where():
    frame = pd.DataFrame({"service": [f"s{i}" for i in range(100)], "n": range(100)})
    html = report.html_table(frame, limit=5, more="gaps.csv").data
    assert html.count("<tr>") == 6                       # header + 5 rows
    assert "showing 5 of 100 rows" in html and "gaps.csv" in html


def test_verdict_cells_get_a_class_only_for_known_verdicts():
    html = report.html_table(pd.DataFrame({"verdict": ["healthy", "x onmouseover=y"]})).data
    assert 'class="logrecon-verdict-healthy"' in html
    assert "onmouseover=y" in html and 'class="logrecon-verdict-x' not in html
    assert not report.offline_problems(html)


def test_verdict_table_lists_worst_first_and_the_overall_row_last():
    metrics = pd.DataFrame({
        "service": ["a", "b", "c", "ALL"], "verdict": ["healthy", "unreliable", "degraded", "degraded"],
        "verdict_reason": ["fine", "consistency 50%", "error rate 8%", "mixed"],
        "events": [10, 10, 10, 30], "error_rate": [0.0, 0.1, 0.08, 0.06],
        "scope": ["service", "service", "service", "run"],
    })
    html = report.verdict_table(metrics).data
    order = [html.index(f"<td>{s}</td>") for s in ("b", "c", "a", "ALL (whole run)")]
    assert order == sorted(order)
    assert 'id="verdicts"' in html and "consistency 50%" in html and "10.00%" in html
    assert "<th>scope</th>" not in html


def test_a_service_named_ALL_is_a_service_in_the_summaries_and_tables():
    """The run rows are found by scope: a service named ALL is counted, judged and listed as one,
    and the run row is shown as 'ALL (whole run)'."""
    metrics = pd.DataFrame({
        "service": ["ALL", "api", "ALL"], "verdict": ["unreliable", "healthy", "degraded"],
        "verdict_reason": ["error rate 33%", "fine", "mixed"], "events": [3, 3, 6],
        "error_rate": [0.33, 0.0, 0.17], "latency_p95_ms": [10.0, 20.0, 19.5],
        "consistency_score": [1.0, 1.0, 0.8], "scope": ["service", "service", "run"],
    })
    summary = markdown2html_mistune(report.verdict_summary(metrics).data)
    assert "of 2 services, <strong>1</strong> healthy" in summary and "<strong>ALL</strong>: unreliable" in summary
    assert "Overall: 6 events" in summary
    table = report.verdict_table(metrics).data
    assert table.index("<td>ALL</td>") < table.index("<td>api</td>") < table.index("<td>ALL (whole run)</td>")


def test_validate_summary_counts_services_not_the_run_rows():
    from logrecon.config import NormalizeConfig, ValidateConfig
    from logrecon.normalize import normalize
    from logrecon.schema import QUARANTINE_COLUMNS, empty_frame
    from logrecon.validate import validate

    from frames import events

    normalized = normalize(events([(0, "ALL", "START", None, "1"), (1, "ALL", "STOP", None, "1"),
                                   (2, "api", "START", None, "2"), (3, "api", "START", None, "3")]), NormalizeConfig())
    validated = validate(normalized.frame, normalized.tables["duplicates"],
                         empty_frame([*QUARANTINE_COLUMNS, "service"]), ValidateConfig())
    text = markdown2html_mistune(report.validate_summary(validated).data)
    assert "ran 24 checks over 2 services and the whole run" in text
    assert "Failing: ALL (whole run) / <code>start_stop_mismatch</code>" in text
    assert "api / <code>start_stop_mismatch</code>" in text and "ALL / <code>" not in text
    table = report.checks_table(validated, n=None).data
    assert table.count("<td>ALL (whole run)</td>") == 8 and table.count("<td>ALL</td>") == 8


def test_verdict_summary_names_the_unreliable_services_and_why():
    metrics = pd.DataFrame({"service": ["<b>x</b>", "ALL"], "verdict": ["unreliable", "unreliable"],
                            "verdict_reason": ["consistency 40% < 80%", "x"], "events": [5, 5],
                            "error_rate": [0.5, 0.5], "latency_p95_ms": [1.0, 1.0],
                            "consistency_score": [0.4, 0.4]})
    text = markdown2html_mistune(report.verdict_summary(metrics).data)
    assert "<strong>1</strong> unreliable" in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "consistency 40% &lt; 80%" in text


def test_verdict_summary_of_zero_events_says_so():
    assert "no events" in report.verdict_summary(pd.DataFrame(columns=["service", "verdict"])).data


def test_row_accounting_checks_the_balance_per_input_and_in_total():
    manifest = {
        "row_accounting": {"records_read": 10, "events": 7, "duplicates": 1, "quarantined": 1,
                           "skipped": 1},
        "inputs": [{"path": "/x/a.csv", "records_read": 6, "events": 4, "duplicates": 1,
                    "quarantined": 1, "skipped": 0},
                   {"path": "/x/b.csv", "records_read": 4, "events": 3, "duplicates": 0,
                    "quarantined": 0, "skipped": 0}],
    }
    html = report.row_accounting_table(manifest).data
    assert "a.csv" in html and "total" in html
    assert "NO (+1)" in html                     # b.csv does not add up
    assert html.count(">yes<") == 2


def test_stage_summaries_use_this_runs_numbers():
    events = pd.DataFrame({"service": ["a", "b"], "timestamp": pd.to_datetime(["2024-01-01"] * 2, utc=True)})
    quarantine = pd.DataFrame({"source": ["f.csv"] * 3, "record": [2, 5, 9],
                               "reasons": ["invalid_timestamp", "invalid_timestamp;missing_field", "malformed_row"]})
    ingested = StageResult(frame=events, tables={"quarantine": quarantine},
                           stats={"records": 5, "events": 2, "quarantined": 3, "invalid_latency": 1})
    text = markdown2html_mistune(report.ingest_summary(ingested).data)
    assert "<strong>5</strong> records" in text and "<strong>2</strong> events" in text
    assert "<strong>3</strong> (60.0%)" in text
    assert "<code>invalid_timestamp</code> 2" in text and "<code>missing_field</code> 1" in text
    reasons = report.quarantine_reasons(ingested).data
    assert "f.csv:2" in reasons and "66.7%" in reasons


def test_load_run_keeps_service_names_that_look_like_nulls_or_numbers(tmp_path):
    (tmp_path / "reliability_metrics.csv").write_text(
        "service,events,error_rate,verdict\nNA,3,0.5,healthy\nnull,2,0,healthy\n123,1,0,degraded\n,1,0,x\n")
    run = report.load_run(tmp_path)
    assert run.metrics["service"].tolist()[:3] == ["NA", "null", "123"]
    assert run.metrics["events"].tolist() == [3, 2, 1, 1]
    assert run.checks.empty and run.gaps.empty and run.manifest == {}


def test_figure_embeds_the_png_and_refuses_unknown_names(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "event_volume.png").write_bytes(PNG)
    html = report.figure(tmp_path, "event_volume").data
    assert 'id="figure-event_volume"' in html and "data:image/png;base64," in html
    assert "missing" in report.figure(tmp_path, "data_quality").data
    with pytest.raises(ValueError):
        report.figure(tmp_path, "../../etc/passwd")


# ---------------------------------------------------------------- offline check


@pytest.mark.parametrize("fragment", [
    '<script src="https://cdn.example/x.js"></script>',
    "<script>alert(1)</script>",
    '<link rel="stylesheet" href="https://cdn.example/x.css">',
    '<img src="http://evil.example/p.png">',
    '<img src="//evil.example/p.png">',
    '<a href="https://evil.example">x</a>',
    '<img src="x" onerror="alert(1)">',
    "<style>@import url(https://cdn.example/x.css);</style>",
    '<div style="background: url(http://evil.example/p.png)"></div>',
    '<iframe src="data:text/html,hi"></iframe>',
    '<meta http-equiv="refresh" content="0; url=https://evil.example">',
])
def test_offline_problems_flags_anything_that_reaches_outside(fragment):
    assert report.offline_problems(f"<html><body>{fragment}</body></html>")


def test_offline_problems_accepts_data_uris_and_anchors():
    ok = ('<img src="data:image/png;base64,AAAA"><a href="#top">top</a>'
          "<style>.x { background: url(data:image/svg+xml;base64,AAAA) }</style>")
    assert report.offline_problems(ok) == []


# ---------------------------------------------------------------- rendering


def _executed_notebook(path: Path, name: str = "<img src=x onerror=alert(1)>") -> Path:
    """A small executed-looking notebook: markdown, a parameters cell, outputs of each kind."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    table = report.html_table(pd.DataFrame({"service": [name], "verdict": ["healthy"]}),
                              table_id="verdicts").data
    summary = report.escape_markdown(name)
    nb.cells = [
        new_markdown_cell("# Reliability report"),
        new_code_cell("run_dir = 'x'", metadata={"tags": ["parameters"]}),
        new_code_cell("secret_code_line = 1", outputs=[
            new_output("stream", name="stderr", text="UserWarning: /home/alice/secret.log\n")]),
        new_code_cell("report.verdict_table(x)", outputs=[
            new_output("display_data", data={"text/html": table, "text/plain": "<HTML>"})]),
        new_code_cell("report.summary(x)", outputs=[
            new_output("display_data", data={"text/markdown": f"**{summary}** in {report._code('logs.csv')}",
                                             "text/plain": "<Markdown>"})]),
        new_code_cell("report.figure(x)", outputs=[
            new_output("display_data", data={"image/png": base64.b64encode(PNG).decode()})]),
    ]
    nbformat.write(nb, path)
    return path


def test_rendered_report_is_self_contained_code_hidden_and_escaped(tmp_path):
    out = report.render_report(_executed_notebook(tmp_path / "05.ipynb"), tmp_path / "r" / "report.html")
    html = out.read_text(encoding="utf-8")
    assert report.offline_problems(html) == []
    assert not EXTERNAL.search(html)
    assert "require" not in html.lower().replace("required", "") and "mathjax" not in html.lower()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "secret_code_line" not in html and "run_dir = " not in html      # code hidden
    assert "/home/alice/secret.log" not in html                               # stderr dropped
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "in <code>logs.csv</code>" in html and "<code></code>" not in html
    assert html.count('src="data:image/png;base64,') == 1
    assert 'id="verdicts"' in html
    assert not list(tmp_path.joinpath("r").glob(".*partial"))


def test_render_report_refuses_to_write_a_report_that_would_call_out(tmp_path):
    path = _executed_notebook(tmp_path / "05.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("x", outputs=[new_output(
        "display_data", data={"text/html": '<img src="https://tracker.example/p.png">'})]))
    nbformat.write(nb, path)
    with pytest.raises(report.ReportError, match="UnsafeReport.*tracker.example"):
        report.render_report(path, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------- execution


def test_report_error_names_the_notebook_the_cell_and_the_saved_copy():
    error = report.ReportError("03_validate.ipynb", 7, "KeyError", "'gaps'", exec_count=5,
                               source="validated = pipeline.validate_step(run)\n",
                               executed="/runs/x/notebooks/03_validate.ipynb")
    assert isinstance(error, LogreconError)
    text = str(error)
    assert "03_validate.ipynb, cell 7 (In [5]): KeyError: 'gaps'" in text
    assert "validated = pipeline.validate_step(run)" in text
    assert "/runs/x/notebooks/03_validate.ipynb" in text


def _notebook(path: Path, *sources: str) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell('run_dir = "."\nlabel = "x"', metadata={"tags": ["parameters"]}),
                *(new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)


@pytest.fixture
def two_notebooks(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "a.ipynb", "import pathlib", "pathlib.Path(run_dir, 'a.txt').write_text(label)")
    _notebook(folder / "b.ipynb", "x = 1", "raise ValueError('boom at b')", "never = 1")
    _notebook(folder / "c.ipynb", "pathlib = 1")
    return folder


def test_a_failing_cell_stops_the_run_names_it_and_leaves_the_failed_notebook(tmp_path, two_notebooks):
    with pytest.raises(report.ReportError) as caught:
        report.execute_notebooks(tmp_path / "run", {"label": "hello"}, progress=False,
                                 notebooks=two_notebooks, names=["a.ipynb", "b.ipynb", "c.ipynb"])
    error = caught.value
    assert (error.notebook, error.ename, error.evalue) == ("b.ipynb", "ValueError", "boom at b")
    assert "b.ipynb, cell" in str(error) and "raise ValueError('boom at b')" in str(error)
    saved = nbformat.read(tmp_path / "run" / "notebooks" / "b.ipynb", as_version=4)
    assert saved.cells[error.cell_index].outputs[-1]["ename"] == "ValueError"
    assert (tmp_path / "run" / "a.txt").read_text() == "hello"          # a ran, with parameters
    assert not (tmp_path / "run" / "notebooks" / "c.ipynb").exists()      # c never started


def test_an_unknown_parameter_is_an_error_not_a_warning(tmp_path, two_notebooks):
    from logrecon.errors import ConfigError

    with pytest.raises(ConfigError, match="gap_treshold.*known: label, run_dir"):
        report.execute_notebooks(tmp_path / "run", {"gap_treshold": 5}, progress=False,
                                 notebooks=two_notebooks, names=["a.ipynb"])


def test_missing_notebooks_are_reported_with_where_they_were_looked_for(tmp_path):
    with pytest.raises(report.ReportError, match="missing 01_ingest.ipynb"):
        report.notebooks_dir(tmp_path)


def test_the_notebooks_are_found_in_the_package_and_are_the_top_level_ones():
    """A wheel carries them as package data (logrecon/notebooks); in the checkout that folder is a
    symlink to the top-level notebooks/, so there is one copy and editable installs find it too."""
    import tomllib

    folder = report.notebooks_dir()
    root = Path(report.__file__).resolve().parents[1]
    assert folder == report.PACKAGED_NOTEBOOKS == root / "logrecon" / "notebooks"
    assert folder.is_symlink() and folder.resolve() == root / "notebooks"
    assert sorted(p.name for p in folder.glob("*.ipynb")) == sorted(report.NOTEBOOKS)
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "notebooks/*.ipynb" in package_data["logrecon"]


@pytest.mark.parametrize("name", report.NOTEBOOKS)
def test_committed_notebooks_are_stripped_parameterized_and_thin(name):
    """Outputs stripped, kernel python3, a literal-only `parameters` cell, no `def`, one
    package call per code cell."""
    nb = nbformat.read(report.notebooks_dir() / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    import ast
    for statement in ast.parse(tagged[0].source).body:
        assert isinstance(statement, ast.Assign)
        ast.literal_eval(statement.value)                      # literals only
    for cell in code:
        if cell is tagged[0]:
            continue
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.Lambda, ast.ClassDef, ast.For,
                                      ast.While)) for n in ast.walk(tree)), cell.source
        assert len(tree.body) == 1, cell.source
    assert nb.cells[0].cell_type == "markdown"
    json.dumps(nb)                                             # plain JSON, nothing exotic


def test_numbers_in_cells_are_formatted_for_reading():
    html = report.html_table(pd.DataFrame({"n": [1234567], "x": [0.5], "t": [np.nan]})).data
    assert ">1,234,567<" in html and ">0.50<" in html and "<td></td>" in html


def test_the_report_knows_every_figure_plots_writes():
    from logrecon import plots

    assert report.FIGURES == tuple(plots.PLOT_FILES)
    assert set(report.FIGURE_CAPTIONS) == set(plots.PLOT_FILES)


def test_a_parameter_no_notebook_declares_is_ignored_only_when_it_is_none(tmp_path, two_notebooks):
    paths = report.execute_notebooks(tmp_path / "run", {"label": "x", "engine_hint": None},
                                     progress=False, notebooks=two_notebooks, names=["a.ipynb"])
    assert [p.name for p in paths] == ["a.ipynb"]


def test_evaluation_scores_a_run_against_generated_truth_or_shows_nothing(tmp_path):
    from logrecon import pipeline
    from logrecon.generate import generate, write_generated

    assert report.evaluation(tmp_path, None).data == ""
    write_generated(tmp_path / "data", generate(400, seed=3))
    pipeline.run([tmp_path / "data" / "logs.csv"], tmp_path / "run")
    html = report.evaluation(tmp_path / "run", tmp_path / "data" / "truth").data
    assert (tmp_path / "run" / "evaluation.csv").is_file()
    assert 'id="evaluation"' in html and "pairing F1" in html and "pairing_f1" in html
    assert not report.offline_problems(html)
