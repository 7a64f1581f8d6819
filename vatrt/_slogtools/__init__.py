"""Reading slogs: `vatrt slog summary` and `vatrt slog report` (docs/slog.md).

`reader.read_slog` turns a slog into a `Run`; `summary.summarize` counts it;
`report.write_report` draws it as one self-contained HTML page.
"""
