"""The sweep grid page (``/grid``, issue 20): many runs, one triple, one epoch slider.

``ids`` (element ids: contracts), ``layout`` (components), ``data`` (the server's part:
the URL, the API's grid, live following) and ``grid`` (registers ``/grid``; named so, the navigation link is ``nav-grid``). Every panel,
the curves beside them and the exports are drawn in the browser (``assets/grid.js`` with the
simplex renderer's panel layer, ``assets/simplex_panel.js``): a slider move never reaches
the server.
"""
