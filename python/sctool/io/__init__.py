"""Reading inputs and writing datasets: the on-disk contract every stage shares."""
