"""The Runs page's parts (``dashboard/pages/runs.py`` wires them):

- ``form``: the launch form and the RunConfig it builds;
- ``table``: the live table's rows, a sweep's group row with its summary plot;
- ``footprint``: a run's detail panel with the bytes it stores, per artifact kind and per
  recorded epoch (``GET /api/runs/{id}/footprint``).
"""
