"""Readers: the records they hand to ingest, and how they number and judge them.

Record numbers are 1-based per file; the header and blank lines are not records; a quoted
multi-line CSV field is one record; a record that is not a record comes back `malformed` with a
reason (never dropped); a file that cannot be read as a whole raises InputError.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from logrecon import pipeline
from logrecon.errors import InputError
from logrecon.readers import RESERVED_COLUMNS, expand_inputs, format_of, read_input, require_columns
from logrecon.readers.csv import _read_text_columns

HEADER = "timestamp,service,event_type\n"


def read(path: Path, content: bytes | str):
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return read_input(path)


def rows(result) -> list[dict]:
    """Records as plain dicts without the source column (nulls as None)."""
    frame = result.records.drop(columns="source").astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


# ------------------------------------------------------------------------------------ CSV
def test_csv_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    result = read(tmp_path / "bom.csv", b"\xef\xbb\xbf" + (HEADER + "2024-01-01T00:00:00Z,api,START\n").encode())
    assert list(result.records.columns[:5]) == ["source", "record", "timestamp", "service", "event_type"]
    assert rows(result)[0]["timestamp"] == "2024-01-01T00:00:00Z"


def test_csv_crlf_line_ends_leave_no_carriage_return_in_values(tmp_path):
    result = read(tmp_path / "crlf.csv", HEADER.replace("\n", "\r\n") + "2024-01-01T00:00:00Z,api,START\r\n")
    assert rows(result) == [{"record": 1, "timestamp": "2024-01-01T00:00:00Z", "service": "api",
                             "event_type": "START", "malformed": None}]


def test_csv_last_record_without_trailing_newline_is_read(tmp_path):
    result = read(tmp_path / "nonl.csv", HEADER + "2024-01-01T00:00:00Z,api,START\n2024-01-01T00:00:01Z,db,STOP")
    assert [r["service"] for r in rows(result)] == ["api", "db"]


def test_csv_quoted_newline_is_one_record_and_numbering_goes_on(tmp_path):
    result = read(tmp_path / "quoted.csv", HEADER + '2024-01-01T00:00:00Z,"multi\nline\nservice",START\n'
                                                    "2024-01-01T00:00:01Z,api,STOP\n")
    assert [(r["record"], r["service"]) for r in rows(result)] == [(1, "multi\nline\nservice"), (2, "api")]


@pytest.mark.parametrize("blank", ["\n", "\r\n", "\n\n\n"])
def test_csv_blank_lines_are_not_records(tmp_path, blank):
    result = read(tmp_path / "blank.csv", HEADER + blank + "2024-01-01T00:00:00Z,api,START\n" + blank
                  + "2024-01-01T00:00:01Z,db,STOP\n" + blank)
    assert [(r["record"], r["service"]) for r in rows(result)] == [(1, "api"), (2, "db")]


@pytest.mark.parametrize("line, detail", [
    ("2024-01-01T00:00:01Z,api", "2 fields, header has 3"),
    ("2024-01-01T00:00:01Z,api,STOP,extra", "4 fields, header has 3"),
    (",", "2 fields, header has 3"),
])
def test_csv_bad_field_count_is_a_malformed_record_with_detail_and_raw_line(tmp_path, line, detail):
    result = read(tmp_path / "bad.csv", HEADER + "2024-01-01T00:00:00Z,api,START\n" + line + "\n"
                  + "2024-01-01T00:00:02Z,db,STOP\n")
    got = rows(result)
    assert [r["record"] for r in got] == [1, 2, 3]
    assert got[1]["malformed"] == detail and got[1]["raw"] == line
    assert got[1]["service"] is None  # a malformed record's fields are not guessed
    assert got[0]["malformed"] is None and got[2]["malformed"] is None


def test_csv_bytes_that_are_not_utf8_make_a_malformed_record_not_a_failed_file(tmp_path):
    result = read(tmp_path / "latin1.csv", HEADER.encode() + b"2024-01-01T00:00:00Z,caf\xe9,START\n"
                  + b"2024-01-01T00:00:01Z,api,STOP\n")
    got = rows(result)
    assert got[0]["malformed"] == "bytes that are not UTF-8" and got[0]["raw"] == "2024-01-01T00:00:00Z,caf\ufffd,START"
    assert got[1]["service"] == "api" and got[1]["malformed"] is None


def test_csv_header_names_are_trimmed_and_extra_columns_kept_as_text(tmp_path):
    result = read(tmp_path / "extra.csv", " timestamp , service ,event_type,host\n2024-01-01T00:00:00Z,api,START,7\n")
    assert rows(result) == [{"record": 1, "timestamp": "2024-01-01T00:00:00Z", "service": "api",
                             "event_type": "START", "host": "7", "malformed": None}]


def test_csv_empty_and_whitespace_only_files_are_empty_input(tmp_path):
    for name, content in (("zero.csv", b""), ("spaces.csv", b"  \n\n"), ("bom.csv", b"\xef\xbb\xbf")):
        result = read(tmp_path / name, content)
        assert result.file_issues == ("empty_input",) and len(result.records) == 0


def test_csv_header_only_is_zero_records_not_empty_input(tmp_path):
    result = read(tmp_path / "header.csv", HEADER)
    assert len(result.records) == 0 and result.file_issues == ()
    assert {"timestamp", "service", "event_type"} <= set(result.records.columns)


def test_tsv_is_read_with_tabs(tmp_path):
    result = read(tmp_path / "logs.tsv", "timestamp\tservice\tevent_type\n2024-01-01T00:00:00Z\ta,b\tSTART\n")
    assert rows(result)[0]["service"] == "a,b"


def test_csv_gz_is_read_like_plain_csv(tmp_path):
    content = (HEADER + '2024-01-01T00:00:00Z,"x\ny",START\n\n2024-01-01T00:00:01Z,api\n').encode()
    result = read(tmp_path / "logs.csv.gz", gzip.compress(content))
    assert [(r["record"], r["service"], r["malformed"]) for r in rows(result)] == [
        (1, "x\ny", None), (2, None, "2 fields, header has 3")]


@pytest.mark.parametrize("column", RESERVED_COLUMNS)
def test_csv_column_named_like_a_logrecon_column_is_refused(tmp_path, column):
    with pytest.raises(InputError, match=f"column '{column}' has a name logrecon gives its own columns"):
        read(tmp_path / "clash.csv", f"timestamp,service,event_type,{column}\n2024-01-01T00:00:00Z,api,START,x\n")


def test_csv_duplicated_header_name_is_refused(tmp_path):
    with pytest.raises(InputError, match="duplicate column 'service' in the header"):
        read(tmp_path / "dup.csv", "timestamp,service,event_type,service\n2024-01-01T00:00:00Z,api,START,x\n")


CANONICAL = ["timestamp", "service", "event_type", "latency_ms", "session_id"]


def canonical_lines(rows: int) -> list[str]:
    """`rows` in-order START/STOP lines, session s-k for rows 2k and 2k+1."""
    return [f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,api,{'STOP' if i % 2 else 'START'},{i % 50},s-{i // 2}"
            for i in range(rows)]


@pytest.mark.parametrize("broken, end", [(6, "\n"), (2000, "\n"), (2000, "")],
                         ids=["mid-file", "last-line", "last-line-no-newline"])
def test_csv_unterminated_quote_is_its_line_alone_malformed_and_the_lines_after_it_are_records(
        tmp_path, broken, end):
    """A quote that never closes made the rest of the file one field of one record, silently
    (2,000 lines read as 6 records); now that line is a malformed record and every line after it
    is the record it is."""
    lines = canonical_lines(2000)
    lines[broken - 1] = lines[broken - 1].rsplit(",", 1)[0] + ',"broken'
    path = tmp_path / "quote.csv"
    path.write_text(",".join(CANONICAL) + "\n" + "\n".join(lines) + end)
    records = read_input(path).records
    assert len(records) == 2000 and records["record"].tolist() == list(range(1, 2001))
    bad = records[records["malformed"].notna()]
    assert bad["record"].tolist() == [broken]
    assert bad["malformed"].tolist() == [f"unterminated quote: the record on line {broken + 1} is still inside "
                                         "quotes at the end of the file"]
    assert bad["raw"].tolist() == [lines[broken - 1]]
    good = records[records["malformed"].isna()]
    assert good["session_id"].tolist() == [f"s-{(r - 1) // 2}" for r in good["record"]]
    # pyarrow alone reads the file without an error and swallows the rest into one value; the
    # fast path must hand it to the exact reader instead
    assert pacsv.read_csv(path).num_rows == (6 if broken == 6 else 2000)
    assert _read_text_columns(path, ",", CANONICAL) is None


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_csv_fast_path_keeps_a_regular_file_whatever_its_line_ends(tmp_path, end):
    """Line ends are not line breaks in a value: such files stay on the fast path."""
    path = tmp_path / "clean.csv"
    path.write_bytes(end.join([",".join(CANONICAL)] + canonical_lines(3)).encode())  # no final line end
    assert _read_text_columns(path, ",", CANONICAL)["session_id"].tolist() == ["s-0", "s-0", "s-1"]


@pytest.mark.parametrize("name", ["later.csv", "later.csv.gz"])
def test_csv_quote_closed_mid_field_on_a_later_line_is_malformed_not_a_swallowed_line(tmp_path, name):
    """The open quote of line 2 closes at the first quote of line 3: a lenient reader makes
    lines 2-3 one record of 5 fields (line 3 lost in a session_id). Both paths agree."""
    content = (",".join(CANONICAL) + "\n" + '2024-01-01T00:00:00Z,api,START,1,"s-1\n'
               '2024-01-01T00:00:01Z,api,STOP,2,"s-1"\n2024-01-01T00:00:02Z,api,START,3,s-2\n')
    got = rows(read(tmp_path / name, gzip.compress(content.encode()) if name.endswith(".gz") else content))
    assert [(r["record"], r["session_id"]) for r in got] == [(1, None), (2, "s-1"), (3, "s-2")]
    assert got[0]["malformed"] == ("broken quote: the record on line 2 is inside quotes up to line 3, "
                                   "where ',' expected after '\"'")
    assert got[0]["raw"] == '2024-01-01T00:00:00Z,api,START,1,"s-1'


@pytest.mark.parametrize("name", ["sloppy.csv", "sloppy.csv.gz"])
@pytest.mark.parametrize("end", ["\n", ""])
def test_csv_one_line_sloppy_quote_reads_the_same_on_both_paths(tmp_path, name, end):
    """`"a"b` breaks the RFC within one line and swallows nothing: pyarrow reads it as `ab`, and
    so does the exact reader (a .gz file), also on a last line without a line break."""
    content = HEADER + '2024-01-01T00:00:00Z,"a"b,START\n2024-01-01T00:00:01Z,"c"d,STOP' + end
    got = rows(read(tmp_path / name, gzip.compress(content.encode()) if name.endswith(".gz") else content))
    assert [(r["record"], r["service"], r["malformed"]) for r in got] == [(1, "ab", None), (2, "cd", None)]


def test_csv_quoted_field_closed_on_a_later_line_stays_one_record_on_the_exact_path(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text(HEADER + '2024-01-01T00:00:00Z,"multi\r\nline",START\n2024-01-01T00:00:01Z,api,STOP\n')
    assert _read_text_columns(path, ",", ["timestamp", "service", "event_type"]) is None
    assert [(r["record"], r["service"], r["malformed"]) for r in rows(read_input(path))] == [
        (1, "multi\r\nline", None), (2, "api", None)]


def test_csv_header_with_an_unterminated_quote_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="header is not readable as CSV: unterminated quote"):
        read(tmp_path / "header.csv", 'timestamp,service,"event_type\n2024-01-01T00:00:00Z,api,START\n')


@pytest.mark.parametrize("header, says", [
    ("Timestamp,Service,Event_Type", "missing required columns 'timestamp', 'service', 'event_type' "
                                     "(found 'Timestamp', 'Service', 'Event_Type'; column names are case-sensitive)"),
    ("timestamp,service", "missing required column 'event_type' (found 'timestamp', 'service')"),
    ("timestamp;service;event_type", "missing required columns 'timestamp', 'service', 'event_type' "
                                     "(found 'timestamp;service;event_type'; is the delimiter right?)"),
    (",".join(f"c{i}" for i in range(14)), "(found 'c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9', "
                                           "'c10', 'c11' and 2 more)"),
])
def test_missing_required_column_error_lists_the_columns_found(tmp_path, header, says):
    path = tmp_path / "cols.csv"
    path.write_text(header + "\n" + ",".join("x" * (header.count(",") + 1)) + "\n")
    with pytest.raises(InputError) as error:
        require_columns(path, read_input(path))
    assert str(error.value).startswith(f"{path}: missing required column") and says in str(error.value)
    assert "\n" not in str(error.value)


def test_required_columns_are_not_asked_of_an_empty_input(tmp_path):
    path = tmp_path / "zero.csv"
    path.write_bytes(b"")
    require_columns(path, read_input(path))


# ---------------------------------------------------------------------------------- JSONL
OBJ = '{"timestamp": "2024-01-01T00:00:00Z", "service": "api", "event_type": "START"}'


@pytest.mark.parametrize("blank", ["\n", "\r\n", "   \n", "\t\n"])
def test_jsonl_blank_lines_are_not_records(tmp_path, blank):
    result = read(tmp_path / "blank.jsonl", blank + OBJ + "\n" + blank + OBJ.replace("api", "db") + "\n" + blank)
    assert [(r["record"], r["service"]) for r in rows(result)] == [(1, "api"), (2, "db")]


@pytest.mark.parametrize("line, detail", [
    ('{"timestamp": "2024-01-01T00:00:00Z", "service": ', "broken JSON"),
    ("not json at all", "broken JSON"),
    ('["2024-01-01T00:00:00Z", "api", "START"]', "a JSON array, not an object"),
    ("42", "a JSON number, not an object"),
    ('"text"', "a JSON string, not an object"),
    ("null", "a JSON null, not an object"),
    ('{"service": "a\\ud800"}', "unpaired UTF-16 surrogate"),
])
def test_jsonl_line_that_is_not_an_object_is_a_malformed_record_with_detail(tmp_path, line, detail):
    result = read(tmp_path / "bad.jsonl", OBJ + "\n" + line + "\n" + OBJ + "\n")
    got = rows(result)
    assert [r["record"] for r in got] == [1, 2, 3]
    assert detail in got[1]["malformed"] and got[1]["raw"] == line
    assert got[0]["malformed"] is None and got[2]["malformed"] is None


def test_jsonl_mixed_types_keep_their_raw_values_for_ingest(tmp_path):
    result = read(tmp_path / "mixed.jsonl", "\n".join([
        '{"timestamp": 1704067200, "service": "api", "event_type": "START", "latency_ms": "120ms"}',
        '{"timestamp": "2024-01-01T00:00:01Z", "service": 7, "event_type": "STOP", "latency_ms": 5.5}',
        '{"timestamp": 1704067202.25, "service": true, "event_type": "ERROR", "latency_ms": null, "extra": {"a": 1}}',
    ]) + "\n")
    got = rows(result)
    assert [r["timestamp"] for r in got] == [1704067200, "2024-01-01T00:00:01Z", 1704067202.25]
    assert [r["service"] for r in got] == ["api", 7, True]
    assert [r["latency_ms"] for r in got] == ["120ms", 5.5, None]
    assert got[2]["extra"] == {"a": 1}


def test_jsonl_missing_keys_are_null_not_an_error(tmp_path):
    result = read(tmp_path / "keys.jsonl", OBJ + '\n{"timestamp": "2024-01-01T00:00:01Z", "event_type": "STOP"}\n')
    assert [r["service"] for r in rows(result)] == ["api", None]


def test_jsonl_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    result = read(tmp_path / "u2028.jsonl", (OBJ.replace("api", "a\u2028b\x85c") + "\n\n" + OBJ + "\n").encode())
    got = rows(result)
    assert [(r["record"], r["service"], r["malformed"]) for r in got] == [(1, "a\u2028b\x85c", None),
                                                                          (2, "api", None)]


def test_jsonl_bytes_that_are_not_utf8_make_a_malformed_record(tmp_path):
    for content in (OBJ.encode() + b"\n" + OBJ.replace("api", "caf").encode().replace(b"caf", b"caf\xe9") + b"\n",
                    OBJ.encode() + b"\n\n" + OBJ.replace("api", "caf").encode().replace(b"caf", b"caf\xe9") + b"\n"):
        got = rows(read(tmp_path / "latin1.jsonl", content))
        assert got[0]["malformed"] is None and got[1]["malformed"] == "bytes that are not UTF-8"


def test_jsonl_gz_is_read_like_plain_jsonl(tmp_path):
    result = read(tmp_path / "logs.jsonl.gz", gzip.compress((OBJ + "\n\nbroken\n" + OBJ + "\n").encode()))
    assert [(r["record"], r["malformed"] is None) for r in rows(result)] == [(1, True), (2, False), (3, True)]


@pytest.mark.parametrize("content", ["not json\n[1, 2]\n", '[{"timestamp": "2024-01-01T00:00:00Z",\n  "service": "a"}]\n'])
def test_jsonl_file_where_no_line_is_an_object_is_refused_saying_so(tmp_path, content):
    """A JSON array or pretty-printed JSON is not JSON Lines: one clear file-level error, not a
    misleading 'missing required column' (nor a crash)."""
    with pytest.raises(InputError, match=r"no line is a JSON object \(first line: .*\); JSON Lines needs one object"):
        read(tmp_path / "array.json", content)


def test_jsonl_file_with_one_good_line_keeps_its_broken_lines_as_records(tmp_path):
    result = read(tmp_path / "some.jsonl", "not json\n" + OBJ + "\n[1, 2]\n")
    assert [(r["record"], r["malformed"] is None) for r in rows(result)] == [(1, False), (2, True), (3, False)]


def test_jsonl_key_named_like_a_logrecon_column_is_refused(tmp_path):
    with pytest.raises(InputError, match="column 'source' has a name logrecon gives its own columns"):
        read(tmp_path / "clash.jsonl", OBJ.replace("}", ', "source": "kafka"}') + "\n")


# ------------------------------------------------------------------------- files as a whole
@pytest.mark.parametrize("name", ["x.csv.gz", "x.jsonl.gz"])
def test_truncated_gzip_is_an_input_error(tmp_path, name):
    packed = gzip.compress((HEADER + "2024-01-01T00:00:00Z,api,START\n" * 5000).encode())
    with pytest.raises(InputError, match="corrupt or truncated gzip"):
        read(tmp_path / name, packed[: len(packed) // 2])


def test_gz_name_on_a_plain_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="corrupt or truncated gzip"):
        read(tmp_path / "plain.csv.gz", HEADER + "2024-01-01T00:00:00Z,api,START\n")


@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("A.CSV.GZ", "csv"), ("a.tsv", "csv"), ("a.jsonl", "jsonl"),
                                       ("a.ndjson.gz", "jsonl"), ("a.json", "jsonl"), ("..csv", "csv"),
                                       ("a.2024-01-01.csv", "csv")])
def test_format_comes_from_the_extension_through_gz(name, fmt):
    assert format_of(Path(name), None) == fmt


@pytest.mark.parametrize("name", ["app.log", "app.txt", "noextension", "x.gz"])
def test_unknown_or_raw_text_extension_needs_a_profile(name):
    with pytest.raises(InputError, match="pass --profile"):
        format_of(Path(name), None)


def test_inputs_expand_globs_and_directories_in_sorted_order_skipping_hidden(tmp_path):
    for name in ("b.csv", "a.csv", ".hidden.csv"):
        (tmp_path / name).write_text(HEADER)
    assert [p.name for p in expand_inputs([str(tmp_path / "*.csv")])] == ["a.csv", "b.csv"]
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.csv", "b.csv"]


@pytest.mark.parametrize("spec, says", [("missing.csv", "no such file"), ("nomatch-*.csv", "no file matches"),
                                        ("empty-dir", "directory holds no input files")])
def test_inputs_that_name_nothing_are_input_errors(tmp_path, spec, says):
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(InputError, match=says):
        expand_inputs([str(tmp_path / spec)])


def test_json_nan_and_infinity_latencies_are_invalid_not_silently_missing(tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text("".join(
        f'{{"timestamp":"2024-01-01T00:00:0{i}Z","service":"a","event_type":"STOP","latency_ms":{value}}}\n'
        for i, value in enumerate(["NaN", "Infinity", "null", "12"])))
    results = pipeline.run([path], tmp_path / "run", plots=False)
    issues = results["ingest"].issues
    assert issues[["record", "reason", "detail"]].values.tolist() == [
        [1, "invalid_latency", "value NaN"], [2, "invalid_latency", "value Infinity"]]
    assert results["ingest"].frame["latency_ms"].tolist()[3] == 12.0


@pytest.mark.parametrize("header, byte, position", [
    (b"timestamp,servic\xe9,event_type\n", "0xe9", 17),
    ("timestamp,service,event_type\n".encode("utf-16"), "0xff", 1),
])
def test_a_header_that_is_not_utf8_is_one_clear_input_error(tmp_path, header, byte, position):
    path = tmp_path / "latin.csv"
    path.write_bytes(header + b"2024-01-01T00:00:00Z,a,START\n")
    with pytest.raises(InputError) as raised:
        read_input(path)
    assert str(raised.value) == (f"{path}: the header line is not UTF-8 text (byte {byte} at position "
                                 f"{position}); save the file as UTF-8")


@pytest.mark.parametrize("name, profile, says", [
    ("app.csv.bz2", None, "compressed as .bz2, which logrecon cannot read; decompress it (or gzip it)"),
    ("app.log", None, "raw text needs a profile that says how to read its lines; pass --profile"),
    ("README.md", "canonical", "cannot tell the format from the file name, and profile 'canonical' names none "
                               "(use a .csv, .jsonl or .parquet name, or a profile with `format:`)"),
])
def test_a_file_without_a_readable_format_says_what_would_make_it_readable(name, profile, says):
    from logrecon.profiles import load_profile
    with pytest.raises(InputError) as raised:
        format_of(Path(name), load_profile(profile) if profile else None)
    assert str(raised.value) == f"{name}: {says}"
