"""``stager ui``: a small read-only web page over the ledger, served on this machine only.

``server.py`` serves and routes; one module per page (``runs_page``, ``run_page``,
``diff_page``, ``cost_page``) renders; ``layout.py`` is the shared shell; ``queries.py``
holds the runs table's SQL; ``readonly.py`` opens the ledger without ever writing to it.
See docs/ui.md.
"""
