"""Every element id of the grid page (the strings are contracts: tests and URLs use them)."""

URL = "grid-url"
SWEEP = "grid-sweep"
CLASS_A, CLASS_B, CLASS_C = "grid-class-a", "grid-class-b", "grid-class-c"
CLASSES = (CLASS_A, CLASS_B, CLASS_C)
LAYER = "grid-layer"
COLS = "grid-cols"          # the facet laid out as columns
ROWS = "grid-rows"          # the facet laid out as rows
SWAP = "grid-swap"
SEEDS = "grid-seeds"        # stack | average
KINDS = "grid-kinds"
PLAY = "grid-play"
TICK = "grid-tick"
EPOCH = "grid-epoch"        # the slider: an index into the union of recorded epochs
EPOCH_LABEL = "grid-epoch-label"
PANELS = "grid-panels"      # the panels, built by assets/grid.js
CURVES = "grid-curves"
SVG, PNG, CSV = "grid-svg", "grid-png", "grid-csv"
EXPORTED = "grid-exported"  # what the last export wrote (name and size), for the user
MSG = "grid-msg"
LIVE = "grid-live"          # interval while a run is queued or running
DATA = "grid-data"          # browser store: the grid (panels as simplex stores, facets, curves)
QUERY = "grid-query"        # {sweep, runs, epoch} from the URL
URL_OUT = "grid-url-out"
HOVER_OUT = "grid-hover-out"
