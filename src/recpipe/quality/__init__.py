"""Data quality: rules as code, run with Great Expectations; failing rows go to quarantine."""
