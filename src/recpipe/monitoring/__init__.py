"""Run records (monitoring.task_runs, monitoring.pipeline_runs) and the HTML health report."""
