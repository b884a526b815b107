"""rtbench.bundle: the result bundle on disk (summary.json, <metric>.hlog, timeseries.csv).

Schema: SCHEMA.md. paths (file names), hlog, timeseries, summary (atomic JSON; read_summary),
summary_types (the typed Summary), record (RunRecord), builder (build_summary), ratios, sections
(summary sections computed from the metrics layer), files (context-manager plumbing).
"""
