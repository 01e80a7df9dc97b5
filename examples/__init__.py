"""Demo apps. `make run` serves `examples.demo:app`."""
