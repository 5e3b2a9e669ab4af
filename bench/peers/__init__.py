"""Side-by-side benchmark against the peer engines users run today (issue 9)."""
