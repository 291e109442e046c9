"""The daemon: the composition root that builds everything and runs the loops."""
