"""Element ids of the Explore page, one constant each.

The strings are contracts: the browser tests, the benchmarks and shared links read them, so a
constant may be renamed but its string stays.
"""

from __future__ import annotations

# state kept in the browser
URL_INIT = "ex-url-init"          # the view asked for by the URL (?run=&classes=&epoch=&layer=)
URL_WRITTEN = "ex-url-written"    # the query last written back into the address bar
RUN_INFO = "ex-run-info"          # the chosen run: class names, recorded epochs, layers, config
FRAMES = "ex-frames"              # every loaded frame of (run, triple, layer), b64 arrays
FRAMES_META = "ex-frames-meta"    # what ex-frames holds (run, triple, layer, basis), no arrays
FRAMES_NEXT = "ex-frames-next"    # where the next page of frames starts, and for what view
FRAMES_B = "ex-frames-b"          # the frames of the compared run
UFM_DATA = "ex-ufm-data"          # the UFM optimum overlay
MULTI_DATA = "ex-multi-data"      # the projections of the small multiples
SHARED_RUN = "shared-run"         # the run every page opens on (the app's store)

# timers
WAIT = "ex-wait"                  # re-reads the run list while nothing is recorded yet
POLL = "ex-poll"                  # one-shot: the next page of frames, or an extraction's end
LIVE = "ex-live"                  # re-reads the chosen run while it trains (new epochs)
PLAY_INTERVAL = "ex-play-interval"

# controls
RUN = "ex-run"
CLASS_A, CLASS_B, CLASS_C = "ex-class-a", "ex-class-b", "ex-class-c"
CLASSES = (CLASS_A, CLASS_B, CLASS_C)
LAYER = "ex-layer"
RECORD_MODE = "ex-record-mode"
MIXING = "ex-mixing"              # which mixing made the probe's mixed points
KINDS = "ex-kinds"
LAM = "ex-lam"
COMPARE = "ex-compare"
UFM = "ex-ufm"
SVG = "ex-svg"
SVG_DONE = "ex-svg-done"
CSV = "ex-csv"
DOWNLOAD = "ex-download"
PLAY = "ex-play"
FOLLOW = "ex-follow"              # "follow latest": the slider jumps to each new epoch
LIVE_NOTE = "ex-live-note"        # "training · epoch 12 recorded" while the run trains
EPOCH_SLIDER = "epoch-slider"
MULTI_N = "ex-multi-n"
MULTI_GO = "ex-multi-go"

# what is shown
EMPTY = "ex-empty"
BODY = "ex-body"
EPOCH_LABEL = "ex-epoch-label"
MESSAGE = "ex-msg"
BASIS = "ex-basis"
SIMPLEX = "simplex"
SIMPLEX_B = "simplex-b"
SIMPLEX_B_WRAP = "ex-b-wrap"
METRICS = "ex-metrics"
METRICS_NOTE = "ex-metrics-note"  # "one epoch recorded" under a single-epoch run's metrics
MULTI = "ex-multi"
