"""Measuring accuracy on labelled faces: verification pairs and the identification harness."""
