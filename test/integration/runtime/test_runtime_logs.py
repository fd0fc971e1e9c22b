"""CRI container log files written by the monitor: long lines, binary output, unterminated
output, CR LF line ends and the two streams.

Most containers run `cat` on a file that the test wrote, so the exact bytes of their output are
known."""

import re

MAX_LINE = 16 * 1024
DATA_DIR = "/mnt/hostcri-test/logdata"
TIMESTAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def parse_records(path):
    """Returns the records of a CRI log file as (time, stream, tag, content) byte strings."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n") or data == b"", "the log ends in the middle of a record"
    records = []
    for line in data.split(b"\n")[:-1]:
        parts = line.split(b" ", 3)
        assert len(parts) == 4, f"malformed record {line[:100]!r}"
        records.append(tuple(parts))
    return records


def join_records(records):
    """Joins P records with the F record that ends them; returns (stream, line) pairs."""
    lines, partial = [], {}
    for _, stream, tag, content in records:
        partial[stream] = partial.get(stream, b"") + content
        if tag == b"F":
            lines.append((stream, partial.pop(stream)))
    assert not partial, f"P records without an F record: {list(partial)}"
    return lines


def expected_lines(data):
    """The lines that output data must give: split at LF, with one CR before each LF removed."""
    pieces = data.split(b"\n")
    lines = [piece[:-1] if piece.endswith(b"\r") else piece for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def run_cat(api, runtime, images, tmp_path, name, data, to_stderr=False):
    """Runs a container that copies data to its stdout (or stderr); returns its log records."""
    data_dir = tmp_path / f"data-{name}"
    data_dir.mkdir()
    (data_dir / "output").write_bytes(data)
    sandbox_id = runtime.run_pod(name=f"log{name}")
    redirect = " >&2" if to_stderr else ""
    container_id = runtime.run(sandbox_id, name, images["busybox:1.0"],
                               command=["sh", "-c", f"cat {DATA_DIR}/output{redirect}"],
                               mounts=[api.Mount(container_path=DATA_DIR,
                                                 host_path=str(data_dir), readonly=True)])
    status = runtime.wait_exited(container_id)
    assert status.exit_code == 0
    return parse_records(status.log_path)


def check_record_format(records, stream=b"stdout"):
    previous = b""
    for stamp, record_stream, tag, content in records:
        assert TIMESTAMP.match(stamp), stamp
        assert stamp >= previous
        previous = stamp
        assert record_stream == stream
        assert tag in (b"P", b"F")
        assert len(content) <= MAX_LINE


def test_log_long_line_split(api, runtime, images, tmp_path):
    # A pattern whose pieces differ, so that a piece out of order or repeated shows.
    line = b"".join(b"%07d," % i for i in range(40 * 1024 // 8))
    assert len(line) == 40 * 1024
    records = run_cat(api, runtime, images, tmp_path, "long", line + b"\n")
    check_record_format(records)
    assert [tag for _, _, tag, _ in records] == [b"P", b"P", b"F"]
    assert [len(content) for _, _, _, content in records] == [MAX_LINE, MAX_LINE, 8 * 1024]
    assert join_records(records) == [(b"stdout", line)]


def test_log_line_lengths_near_limit(api, runtime, images, tmp_path):
    """Lines of the maximum size, one byte more or less, and with CR LF at the boundary."""
    lines = [b"a" * (MAX_LINE - 1), b"b" * MAX_LINE, b"c" * (MAX_LINE + 1), b"d" * 2 * MAX_LINE]
    data = b"".join(line + b"\n" for line in lines)
    data += b"e" * (MAX_LINE - 1) + b"\r\n" + b"f" * MAX_LINE + b"\r\n"
    records = run_cat(api, runtime, images, tmp_path, "limit", data)
    check_record_format(records)
    assert join_records(records) == [(b"stdout", line) for line in expected_lines(data)]
    # Only a line longer than the maximum is split.
    assert [tag for _, _, tag, _ in records[:2]] == [b"F", b"F"]


def test_log_binary_output_unchanged(api, runtime, images, tmp_path):
    every_byte = bytes(range(256))
    invalid_utf8 = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xed\xa0\x80"
    data = every_byte * 4 + b"\n" + invalid_utf8 + b"\x00\x00 \x00\n" + b"\x00" * 100 + b"\n"
    records = run_cat(api, runtime, images, tmp_path, "binary", data)
    check_record_format(records)
    assert join_records(records) == [(b"stdout", line) for line in expected_lines(data)]
    assert b"\x00" * 100 in [content for _, _, _, content in records]


def test_log_unterminated_output_ends_full(api, runtime, images, tmp_path):
    data = b"first\nno newline at the end"
    records = run_cat(api, runtime, images, tmp_path, "unterminated", data)
    check_record_format(records)
    assert [(tag, content) for _, _, tag, content in records] == [
        (b"F", b"first"), (b"F", b"no newline at the end")]


def test_log_long_unterminated_output(api, runtime, images, tmp_path):
    data = b"x" * (MAX_LINE + 100)
    records = run_cat(api, runtime, images, tmp_path, "longunterminated", data)
    check_record_format(records)
    assert [(tag, len(content)) for _, _, tag, content in records] == [
        (b"P", MAX_LINE), (b"F", 100)]


def test_log_cr_before_lf_removed(api, runtime, images, tmp_path):
    data = b"dos\r\n\r\nmiddle\rcr\nkept\r\r\n\rlead\n"
    records = run_cat(api, runtime, images, tmp_path, "crlf", data)
    check_record_format(records)
    assert [content for _, _, _, content in records] == [
        b"dos", b"", b"middle\rcr", b"kept\r", b"\rlead"]


def test_log_stderr_stream(api, runtime, images, tmp_path):
    data = b"to stderr\x00\xff\n" + b"y" * (MAX_LINE + 1) + b"\n"
    records = run_cat(api, runtime, images, tmp_path, "stderr", data, to_stderr=True)
    check_record_format(records, stream=b"stderr")
    assert join_records(records) == [(b"stderr", line) for line in expected_lines(data)]


def test_log_streams_kept_apart(api, runtime, images):
    """A partial line of one stream is not joined with the other stream's output."""
    sandbox_id = runtime.run_pod(name="logstreams")
    script = ("printf 'out-start '; printf 'err-line\\n' >&2; sleep 0.2; printf 'out-end\\n'; "
              "printf 'err-rest' >&2")
    container_id = runtime.run(sandbox_id, "streams", images["busybox:1.0"],
                               command=["sh", "-c", script])
    status = runtime.wait_exited(container_id)
    records = parse_records(status.log_path)
    lines = join_records(records)
    assert sorted(lines) == sorted([(b"stdout", b"out-start out-end"), (b"stderr", b"err-line"),
                                    (b"stderr", b"err-rest")])


def test_log_many_lines_in_order(api, runtime, images):
    """Output far larger than the writer's buffer reaches the log whole and in order."""
    count = 100000
    sandbox_id = runtime.run_pod(name="logmany")
    container_id = runtime.run(sandbox_id, "many", images["busybox:1.0"],
                               command=["seq", "1", str(count)])
    status = runtime.wait_exited(container_id)
    records = parse_records(status.log_path)
    assert all(tag == b"F" for _, _, tag, _ in records)
    lines = [content for _, _, _, content in records]
    assert lines == [str(i).encode() for i in range(1, count + 1)]


def test_log_tty_line_ends(api, runtime, images):
    """A terminal turns each LF into CR LF; the records hold the lines without the CR, all on
    the stdout stream."""
    sandbox_id = runtime.run_pod(name="logtty")
    container_id = runtime.run(sandbox_id, "tty", images["busybox:1.0"], tty=True,
                               command=["sh", "-c", "echo one; echo two >&2; printf 'three'"])
    status = runtime.wait_exited(container_id)
    records = parse_records(status.log_path)
    assert [(stream, tag, content) for _, stream, tag, content in records] == [
        (b"stdout", b"F", b"one"), (b"stdout", b"F", b"two"), (b"stdout", b"F", b"three")]
