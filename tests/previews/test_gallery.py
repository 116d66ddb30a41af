"""Static gallery page and proposal-thumbnail choice (pure, no Dagster)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from jwql_dagster.previews.gallery import choose_proposal_thumbnail, write_gallery


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "a":
            self.hrefs.append(d["href"])
        if tag == "img":
            self.srcs.append(d["src"])
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.headings.append(data)


def parse(page: Path) -> Links:
    p = Links()
    p.feed(page.read_text())
    return p


def test_gallery_links_every_preview_and_thumbnail(tmp_path: Path) -> None:
    prev = tmp_path / "preview_images" / "jw01068"
    thumb = tmp_path / "thumbnails" / "jw01068"
    prev.mkdir(parents=True)
    thumb.mkdir(parents=True)
    names = [
        "jw01068001001_02102_00001_nrca1_rate_integ0",
        "jw01068001001_02102_00001_NRC_SWA_MOSAIC_rate_integ0",
        "jw01068002001_02102_00001_nrcb1_rateints_integ0",
        "jw01068002001_02102_00001_nrcb1_rateints_integ1",
        "jw01068-o001_t001_nircam_f150w_i2d_integ0",
        "odd&<name>_integ0",
    ]
    for n in names:
        (prev / f"{n}.jpg").write_bytes(b"\xff\xd8jpeg\xff\xd9")
    for n in names[:2]:
        (thumb / f"{n}.thumb").write_bytes(b"\xff\xd8jpeg\xff\xd9")
    (prev / ".tmp-partial-x.jpg").write_bytes(b"\xff\xd8")  # a half-written temp file is not shown
    page = tmp_path / "outputs" / "previews" / "jw01068" / "index.html"
    gallery = write_gallery("jw01068", prev, thumb, page)
    assert gallery.n_previews == len(names) and gallery.n_thumbnails == 2
    links = parse(page)
    targets = {(page.parent / unquote(h)).resolve() for h in links.hrefs}
    assert targets == {(prev / f"{n}.jpg").resolve() for n in names}
    for src in links.srcs:
        assert (page.parent / unquote(src)).resolve().is_file()
    assert len(links.srcs) == 2
    assert all(not h.startswith(("/", "file:")) for h in links.hrefs + links.srcs)  # relative links
    assert any(h.startswith("observation 001") for h in links.headings)
    assert any(h.startswith("observation 002") for h in links.headings)
    assert any(h.startswith("stage 3 o001") for h in links.headings)
    raw = page.read_text()
    assert "odd&<name>" not in raw and "odd&amp;&lt;name&gt;" in raw
    assert oct(page.stat().st_mode & 0o777) == "0o644"


def test_gallery_of_empty_program(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    g = write_gallery("jw09999", tmp_path / "none", tmp_path / "none2", page)
    assert g.n_previews == 0 and "No previews yet" in page.read_text()


def test_proposal_thumbnail_prefers_rate_then_dark_then_uncal(tmp_path: Path) -> None:
    assert choose_proposal_thumbnail(tmp_path / "missing") is None
    for n in ["jw01068001001_02102_00001_nrcb1_uncal_integ0.thumb",
              "jw01068001001_02102_00001_nrcb1_dark_integ0.thumb",
              "jw01068001001_02102_00001_NRC_SWALL_MOSAIC_rate_integ0.thumb"]:
        (tmp_path / n).write_bytes(b"x")
    assert choose_proposal_thumbnail(tmp_path).name.endswith("nrcb1_dark_integ0.thumb")
    (tmp_path / "jw01068002001_02102_00001_nrcb1_rate_integ0.thumb").write_bytes(b"x")
    (tmp_path / "jw01068001001_02102_00001_nrca2_rate_integ0.thumb").write_bytes(b"x")
    assert choose_proposal_thumbnail(tmp_path).name == "jw01068001001_02102_00001_nrca2_rate_integ0.thumb"
    for p in tmp_path.glob("*rate*"):
        p.unlink()
    for p in tmp_path.glob("*dark*"):
        p.unlink()
    assert choose_proposal_thumbnail(tmp_path).name.endswith("nrcb1_uncal_integ0.thumb")

