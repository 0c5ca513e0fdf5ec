"""The synthetic benchmark's generator version (plain data: run keys read it without drawing)."""

# bumped whenever the same seed would draw other scenes; part of every synthetic run key
GENERATOR_VERSION = 2
