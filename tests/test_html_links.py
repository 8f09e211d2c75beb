"""Field report 22.2, another member of the kind: text from the file system that reaches the explorer page as a
link. A folder name is escaped for the URL context: percent-encoded, and never read as a URL scheme."""

from __future__ import annotations

import pytest

from losstopo.explorer.data import collect, relative_url
from losstopo.explorer.synthetic import make_results


@pytest.mark.parametrize(
    "folder, link",
    [
        ("javascript:alert(1)", "./javascript%3Aalert%281%29/runs/profile.svg"),
        ("a#b?c d%", "./a%23b%3Fc%20d%25/runs/profile.svg"),
        ("plain", "./plain/runs/profile.svg"),
    ],
)
def test_a_link_to_a_file_is_a_relative_path_whatever_its_folders_are_called(tmp_path, folder, link):
    assert relative_url(tmp_path / folder / "runs" / "profile.svg", tmp_path) == link
    assert relative_url(tmp_path / "x.svg", tmp_path / folder) == "../x.svg"


def test_the_explorer_links_a_profile_in_a_folder_named_like_a_url_scheme(tmp_path):
    results = tmp_path / "javascript:alert(document.domain)"
    make_results(results, n_runs=1, seeds=1, resolution=5)
    unit = next(results.glob("runs/**/landscape.npz")).parent
    (unit / "profile.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    data = collect(results, link_base=tmp_path)  # the page written beside the folder: links start with its name
    links = [d["profile_svg"] for d in data["details"].values() if "profile_svg" in d]
    assert links and all(link.startswith("./javascript%3Aalert%28document.domain%29/runs/") for link in links)
