"""rtbench.bundle: the result bundle on disk (summary.json, <metric>.hlog, timeseries.csv).

Schema: SCHEMA.md. paths (file names), hlog, timeseries, summary (atomic JSON), sections
(summary sections computed from the metrics layer), files (context-manager plumbing).
"""
