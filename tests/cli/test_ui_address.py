"""`jwql-dagster ui`: where the quicklook pages are linked from asset metadata while it runs."""

from __future__ import annotations


def test_the_pages_link_where_ui_serves_them() -> None:
    from jwql_dagster.cli.ui import web_address

    # Default: the port of JWQL_WEB_URL, the URL unchanged (a proxy's or public host name stays).
    assert web_address("http://127.0.0.1:3001", None) == (3001, "http://127.0.0.1:3001")
    assert web_address("https://quicklook.example.org:8443/jwql", None) == (8443, "https://quicklook.example.org:8443/jwql")
    # Another --web-port: asset metadata must link to that port, same host.
    assert web_address("http://127.0.0.1:3001", 38412) == (38412, "http://127.0.0.1:38412")
    assert web_address("http://qlhost:3001/jwql", 4000) == (4000, "http://qlhost:4000/jwql")
