"""`tinykube image` output formatting and argument handling."""

import pytest

from tinykube.agent.images.cli import human_size, main


@pytest.mark.parametrize("size,text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (812_345, "812kB"),
                                       (2_223_456, "2.22MB"), (1_500_000_000, "1.5GB")])
def test_human_size_like_crictl(size, text):
    assert human_size(size) == text


def test_ls_of_an_empty_store(tmp_path, capsys):
    assert main(["ls", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["REF", "DIGEST", "SIZE"]


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["rm", "busybox", "--data-dir", str(tmp_path)]) == 1
    assert 'image "busybox" is not present' in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.tar"), "--data-dir", str(tmp_path)]) == 1
    not_a_tar = tmp_path / "x.tar"
    not_a_tar.write_bytes(b"garbage")
    assert main(["import", str(not_a_tar), "--data-dir", str(tmp_path)]) == 1
