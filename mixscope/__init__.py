"""mixscope: explore the geometry that mixup training gives a network's activations."""

__version__ = "0.1.0"
