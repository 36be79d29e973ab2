"""The demo: a small fictional corpus and the script that aligns the embedded model on it."""
