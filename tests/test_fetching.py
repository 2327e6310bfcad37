"""Fetching from a real local HTTP server: identical files, optional files, atomic writes, clear errors."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.fetching import DEFAULT_BASE_URL, fetch_dataset, resolve_base_url
from training.errors import InputError
from training.knowledge import DATASETS

WIKI_PARAPHRASES = ("wiki_train_paraphrase_same_order.json", "wiki_train_paraphrase_change_order.json")


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class Truncating(BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 10, hangs up: a download cut off half-way."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b'[{"text": ')
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def paper_url(paper_data_dir: Path) -> Iterator[str]:
    """The paper folder's URL on a server rooted one level up, so the base URL has a path part."""
    with serve(functools.partial(QuietFiles, directory=str(paper_data_dir.parent))) as url:
        yield f"{url}/{paper_data_dir.name}/"


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_wiki_fetch_is_byte_identical_and_reports_unpublished(
    paper_url: str, paper_data_dir: Path, tmp_path: Path
) -> None:
    results = fetch_dataset("wiki", tmp_path / "data", paper_url)
    assert {r.file: r.status for r in results} == {
        "wiki_train_no_paraphrase.json": "downloaded",
        "wiki_test.jsonl": "downloaded",
        **dict.fromkeys(WIKI_PARAPHRASES, "not published"),
    }
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "wiki_test.jsonl",
        "wiki_train_no_paraphrase.json",
    ]
    for result in results:
        if result.status == "downloaded":
            fetched = (tmp_path / "data" / result.file).read_bytes()
            assert fetched == (paper_data_dir / result.file).read_bytes() and result.size == len(fetched)


def test_second_fetch_keeps_present_files_unless_forced(
    paper_url: str, paper_data_dir: Path, tmp_path: Path
) -> None:
    assert {r.status for r in fetch_dataset("biography", tmp_path, paper_url)} == {"downloaded"}
    for file in DATASETS["bio"].files:
        assert (tmp_path / file).read_bytes() == (paper_data_dir / file).read_bytes()
    (tmp_path / "biography_test.jsonl").write_text("local edit")
    assert {r.status for r in fetch_dataset("bio", tmp_path, paper_url)} == {"present"}
    assert (tmp_path / "biography_test.jsonl").read_text() == "local edit"
    assert {r.status for r in fetch_dataset("bio", tmp_path, paper_url, force=True)} == {"downloaded"}
    assert (tmp_path / "biography_test.jsonl").read_bytes() == (
        paper_data_dir / "biography_test.jsonl"
    ).read_bytes()


def test_base_url_from_environment(paper_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MFT_DATA_BASE_URL", raising=False)
    assert resolve_base_url() == DEFAULT_BASE_URL
    monkeypatch.setenv("MFT_DATA_BASE_URL", paper_url)
    assert resolve_base_url() == paper_url.rstrip("/") and resolve_base_url("http://x/") == "http://x"
    assert [r.status for r in fetch_dataset("namedesc", tmp_path)] == ["downloaded"] * 3


def test_required_file_missing_on_server_fails(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with serve(functools.partial(QuietFiles, directory=str(tmp_path / "empty"))) as url:
        with pytest.raises(
            InputError, match=r"HTTP 404 .*ND_train_no_paraphrase.json is required for namedesc"
        ):
            fetch_dataset("namedesc", tmp_path / "data", url)
    assert list((tmp_path / "data").iterdir()) == []


def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    url = dead_url()
    with pytest.raises(
        InputError, match=f"cannot reach {url}/biography_train_no_paraphrase.json .*--base-url"
    ):
        fetch_dataset("bio", tmp_path, url)


def test_cut_off_download_leaves_no_file(tmp_path: Path) -> None:
    with serve(Truncating) as url:
        with pytest.raises(InputError, match="download of .*wiki_train_no_paraphrase.json failed"):
            fetch_dataset("wiki", tmp_path, url)
    assert list(tmp_path.iterdir()) == []


def test_cli_fetch_then_show(mft: Callable, paper_url: str, tmp_path: Path) -> None:
    result = mft("data", "fetch", "wiki", "--base-url", paper_url, "--data-dir", str(tmp_path))
    assert result.code == 0, result.err
    assert result.out.count("not published") == 3 and result.out.count("downloaded") == 2  # 2 rows + note
    shown = mft("data", "show", "wiki", "--data-dir", str(tmp_path))
    assert shown.code == 0 and "documents" in shown.out and "94" in shown.out


def test_cli_fetch_unreachable_is_one_line(mft: Callable, tmp_path: Path) -> None:
    result = mft("data", "fetch", "namedesc", "--base-url", dead_url(), "--data-dir", str(tmp_path))
    assert result.code == 2 and "cannot reach" in result.err and "--base-url" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_cli_fetch_needs_a_registered_name(mft: Callable, tmp_path: Path) -> None:
    result = mft("data", "fetch", "./my-set", "--data-dir", str(tmp_path))
    assert (
        result.code == 2
        and "unknown dataset './my-set'; choose one of namedesc, bio (biography), wiki" in result.err
    )
    assert "folder" not in result.err and list(tmp_path.iterdir()) == []
