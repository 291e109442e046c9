"""What the machine has: GPUs from NVML, or simulated ones from the config."""
