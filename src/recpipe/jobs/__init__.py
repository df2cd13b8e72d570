"""One module per job: arguments, then config -> read -> transform -> write. ``cli`` wires them up."""
