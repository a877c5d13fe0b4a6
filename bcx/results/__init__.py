"""The results: metrics.json, the summary table, figures, sweep reports, provenance, loggers
and video."""
