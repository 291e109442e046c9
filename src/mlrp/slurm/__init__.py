"""Slurm: drive a real Slurm cluster, and render its configuration from mlrp's."""
